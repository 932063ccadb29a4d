"""The report of a folder of classify runs: results.csv, summary.csv, report.md and figures/."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from imbalance_gan.reporting import record
from imbalance_gan.reporting.aggregate import (
    collect_runs,
    compare_to_baseline,
    read_study,
    summarize,
    summary_columns,
)
from imbalance_gan.reporting.figures import write_figures
from imbalance_gan.reporting.markdown import render_report, results_table
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import write_text


def _write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(columns), restval="", extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return write_text(path, buf.getvalue())


def build_report(
    root: str | Path, out_dir: str | Path | None = None, minority_class: int = 0
) -> tuple[Path, str, list[dict]]:
    """Write results.csv, summary.csv, report.md and figures/ into out_dir (default: root).

    Returns report.md's path, the results table (markdown) and the failed or missing runs.
    """
    root, k = Path(root), minority_class
    if not root.is_dir():
        raise UserError(f"no such directory: {root}")
    rows, failures = collect_runs(root, k)
    if not rows:
        extra = f" ({len(failures)} failed, e.g. {failures[0]['error']})" if failures else ""
        raise UserError(f"no finished classify runs (metrics.json) under {root}{extra}")
    experiments = sorted({str(r["experiment"]) for r in rows})
    if len(experiments) > 1:
        raise UserError(
            f"runs of several experiments under {root} ({', '.join(experiments)}); "
            "report one experiment at a time"
        )
    out = Path(out_dir) if out_dir is not None else root
    summary = summarize(rows, record.numeric_columns(k))
    comparisons = compare_to_baseline(rows, metrics=(f"test/f1_c{k}", f"test/recall_c{k}"))
    _write_csv(out / "results.csv", rows, record.run_columns(k))
    _write_csv(out / "summary.csv", summary, summary_columns(summary))
    figures = write_figures(rows, summary, out, k)
    text = render_report(root, read_study(root), rows, summary, comparisons, failures, figures, k)
    return write_text(out / "report.md", text), results_table(summary, k), failures


def write_report(
    root: str | Path, out_dir: str | Path | None = None, minority_class: int = 0
) -> Path:
    """Write the report files; returns report.md's path."""
    return build_report(root, out_dir, minority_class)[0]
