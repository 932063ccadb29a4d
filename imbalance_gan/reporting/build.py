"""The report of a folder of classify runs: results.csv, summary.csv, report.md and figures/."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from imbalance_gan.reporting import columns
from imbalance_gan.reporting.aggregate import (
    ALPHA,
    classic_ranking,
    compare_to_baseline,
    compare_to_best_classic,
    compare_to_every_classic,
    summarize,
    summary_columns,
)
from imbalance_gan.reporting.collect import collect_runs, read_study
from imbalance_gan.reporting.figures import write_figures
from imbalance_gan.reporting.markdown import render_report
from imbalance_gan.reporting.page import to_html
from imbalance_gan.reporting.report_data import ReportData
from imbalance_gan.reporting.tables import results_table
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import writable_dir, write_text


def _write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(columns), restval="", extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return write_text(path, buf.getvalue())


def build_report(
    root: str | Path, out_dir: str | Path | None = None, minority: Sequence[int] | None = None
) -> tuple[Path, str, list[dict]]:
    """Write results.csv, summary.csv, report.md and figures/ into out_dir (default: root).

    ``minority``: the classes to report on; by default the runs' own minority classes.
    Returns report.md's path, the results table (markdown) and the failed or missing runs.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"no such directory: {root}")
    rows, failures, minority = collect_runs(root, minority)
    if not rows:
        extra = f" ({len(failures)} failed, e.g. {failures[0]['error']})" if failures else ""
        raise UserError(f"no finished classify runs (metrics.json) under {root}{extra}")
    experiments = sorted({str(r["experiment"]) for r in rows})
    if len(experiments) > 1:
        raise UserError(
            f"runs of several experiments under {root} ({', '.join(experiments)}); "
            "report one experiment at a time"
        )
    study = read_study(root)
    baseline = study.get("baseline") or "original"
    out = writable_dir(out_dir if out_dir is not None else root, "report folder")
    summary = summarize(rows, columns.numeric_columns(minority))
    test_metrics, val_metrics = columns.key_metrics(minority), columns.key_metrics(minority, "val")
    ap, val_ap = columns.ap_metric(minority), columns.ap_metric(minority, "val")
    if all(r.get(ap) is not None and r.get(val_ap) is not None for r in rows):
        # threshold-free, beside F1 and recall, where every run recorded it
        test_metrics, val_metrics = (*test_metrics, ap), (*val_metrics, val_ap)
    comparisons = compare_to_baseline(rows, baseline, test_metrics)
    # the best fix: chosen on the test set's selection half and measured on its report half
    # when every run recorded both; else on the validation split (measured on the whole test
    # set)
    if columns.has_halves(rows, minority):
        f1, recall, _, ap_half = columns.half_metrics(minority, "report")
        pick_f1, pick_recall, _, pick_ap = columns.half_metrics(minority, "select")
        measured, chosen_by = (f1, recall, ap_half), (pick_f1, pick_recall, pick_ap)
    else:
        measured, chosen_by = test_metrics, val_metrics
    best = compare_to_best_classic(
        rows, list(zip(measured, chosen_by, strict=True)), study.get("best_classic")
    )
    every = compare_to_every_classic(rows, measured)
    # the verdicts' significance level: the study's (study.alpha), 0.05 for a sweep
    alpha = float(study.get("alpha") or ALPHA)
    for c in (*comparisons, *best, *every):
        c["alpha"] = alpha
    _write_csv(out / "results.csv", rows, columns.run_columns(minority))
    _write_csv(out / "summary.csv", summary, summary_columns(summary))
    skipped: list[str] = []
    figures = write_figures(rows, summary, out, minority, baseline, skipped)
    data = ReportData(
        study=study,
        rows=rows,
        summary=summary,
        minority=minority,
        comparisons=comparisons,
        best_classic=best,
        every_classic=every,
        ranking=classic_ranking(rows, chosen_by),
        chosen_by=chosen_by,
        baseline=baseline,
        failures=failures,
        figures=figures,
        skipped_figures=skipped,
    )
    text = render_report(data)
    table = results_table(summary, minority, data.collapsed, data.shortcuts)
    write_text(out / "report.html", to_html(text, out, [p for _, p in figures]))
    return write_text(out / "report.md", text), table, failures


def write_report(
    root: str | Path, out_dir: str | Path | None = None, minority: Sequence[int] | None = None
) -> Path:
    """Write the report files; returns report.md's path."""
    return build_report(root, out_dir, minority)[0]
