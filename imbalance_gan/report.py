"""Turn classify runs' ``metrics.json`` files into results.csv, summary.csv, report.md and figures.

Usage: ``python -m imbalance_gan.report <dir> [--out DIR]``. Reads nothing but the run folders'
``metrics.json`` / ``failed.json`` and the planned runs: ``<dir>/study.json``, or else a Hydra
sweep's ``<dir>/multirun.yaml``. report_md.py writes report.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Sequence
from itertools import product
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob, Override
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from imbalance_gan.errors import UserError, report_user_errors
from imbalance_gan.figures import write_figures
from imbalance_gan.files import read_json, write_text
from imbalance_gan.stats import holm, mean_ci, paired_difference

# Display order when study.json does not give one; unknown scenarios follow, alphabetically.
SCENARIO_ORDER = tuple("original vanilla dcgan cgan oversample weighted affine smote full".split())
# Where classify.py's config groups live: a sweep's glob(...) choices are these files.
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
MACRO_METRICS = ("test/accuracy", "test/f1_macro", "test/auroc_macro", "test/balanced_accuracy")
PER_CLASS = ("precision", "recall", "f1")
# Copied as they are from a run's metrics.json.
RECORD_FIELDS = ("device", "hardware", "epochs", "best_epoch", "wall_time_s")
# gan_run.metrics key -> column name.
GAN_FIELDS = {
    "best_epoch": "gan/best_epoch",
    "selection/fd_train": "gan/selection/fd_train",
    "eval/fd_test": "gan/eval/fd_test",
    "eval/precision": "gan/eval/precision",
    "eval/recall": "gan/eval/recall",
    "wall_time_s": "gan/wall_time_s",
}
# Fewer paired seeds than this: the t-test has too little to stand on, so we do not report one.
MIN_PAIRS_FOR_TEST = 3


def metric_names(minority_class: int = 0) -> tuple[str, ...]:
    """The test-metric columns: macro metrics, then the minority class's precision/recall/F1."""
    return MACRO_METRICS + tuple(f"test/{m}_c{minority_class}" for m in PER_CLASS)


def run_columns(minority_class: int = 0) -> tuple[str, ...]:
    """Columns of results.csv, in order."""
    k = minority_class
    return (
        "scenario",
        "seed",
        "experiment",
        *RECORD_FIELDS,
        *metric_names(k),
        f"n_real_c{k}",
        f"n_added_c{k}",
        "gan",
        *GAN_FIELDS.values(),
        "gan_dir",
        "run_dir",
    )


def read_study(root: str | Path) -> dict[str, Any]:
    """``<root>/study.json`` as a dict, or {} when there is none."""
    path = Path(root) / "study.json"
    if not path.is_file():
        return {}
    try:
        return dict(read_json(path))
    except (OSError, ValueError, TypeError) as err:
        raise UserError(f"cannot read {path}: {err}") from err


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _row(record: dict, run_dir: Path, k: int) -> dict[str, Any]:
    metrics, counts = record["metrics"], record.get("train_counts") or {}
    row = {"scenario": str(record["scenario"]), "seed": int(record["seed"])}
    # classify.py has written the experiment profile as "profile"; accept both names.
    row["experiment"] = record.get("experiment", record.get("profile"))
    for key in RECORD_FIELDS:
        row[key] = record.get(key)
    row.update({name: _num(metrics.get(name)) for name in MACRO_METRICS})
    row.update({f"test/{m}_c{k}": float(metrics[f"test/{m}"][k]) for m in PER_CLASS})
    row[f"n_real_c{k}"] = counts["real"][k] if "real" in counts else None
    row[f"n_added_c{k}"] = counts["added"][k] if "added" in counts else None
    gan = record.get("gan_run")
    if gan:
        row["gan"] = gan.get("gan")
        row.update({col: _num(gan["metrics"].get(key)) for key, col in GAN_FIELDS.items()})
        row["gan_dir"] = gan.get("dir")
    row["run_dir"] = str(run_dir)
    return row


def read_sweep_plan(root: str | Path) -> list[tuple[str, int]]:
    """The (scenario, seed) runs a Hydra sweep planned, from ``<root>/multirun.yaml``; [] without one.

    Expands the overrides (``hydra.sweeper.params``, then the command line's) as Hydra's basic
    sweeper does; an absent scenario or seed is the sweep config's own (original, 0 by default).
    """
    path = Path(root) / "multirun.yaml"
    if not path.is_file():
        return []
    try:
        cfg = OmegaConf.load(path)
        if OmegaConf.select(cfg, "task", default="classify") != "classify":
            return []  # a sweep of another entry point (train.py's GANs)
        params = OmegaConf.select(cfg, "hydra.sweeper.params", default=None) or {}
        task = OmegaConf.select(cfg, "hydra.overrides.task", default=None) or []
        scenario = OmegaConf.select(cfg, "scenario.name", default="original")
        grid = {"scenario": [scenario], "seed": [OmegaConf.select(cfg, "seed", default=0)]}
        overrides = [f"{k}={v}" for k, v in params.items()] + list(task)
        for o in OverridesParser.create().parse_overrides(overrides):
            if o.key_or_group in grid and o.package is None and not o.is_delete():
                grid[o.key_or_group] = _values(o)
        return [(str(s), int(seed)) for s in grid["scenario"] for seed in grid["seed"]]
    except (
        OSError,
        ValueError,
        TypeError,
        yaml.YAMLError,
        HydraException,
        OmegaConfBaseException,
    ) as err:
        raise UserError(f"cannot read the planned runs from {path}: {err}") from err


def _values(override: Override) -> list:
    if not override.is_sweep_override():
        return [override.value()]
    if isinstance(override.value(), Glob):  # Hydra filters the group's config files
        options = sorted(p.stem for p in (CONF_DIR / override.key_or_group).glob("*.yaml"))
        return override.value().filter(options)
    return list(override.sweep_string_iterator())


def _planned(root: Path, study: dict) -> tuple[list[tuple[Any, Any]], str]:
    """Runs that study.json, or else multirun.yaml, plans; and the error of a missing one."""
    if (root / "study.json").is_file():
        grid = list(product(study.get("scenarios", []), study.get("seeds", [])))
        return grid, "missing: no metrics.json or failed.json (not run yet?)"
    return read_sweep_plan(root), "missing: no metrics.json (run unfinished or killed)"


def _failure(record: dict, run_dir: Path | None, error: str) -> dict[str, Any]:
    return {
        "scenario": record.get("scenario", "?"),
        "seed": record.get("seed", "?"),
        "error": error,
        "run_dir": "" if run_dir is None else str(run_dir),
    }


def collect_runs(root: str | Path, minority_class: int = 0) -> tuple[list[dict], list[dict]]:
    """Find classify runs at any depth under ``root``: (one flat row per run, failed runs).

    Failures are ``failed.json`` files, unreadable ``metrics.json`` files, and runs that
    ``study.json`` (or else a sweep's ``multirun.yaml``) plans but that left no file. A failure superseded by a finished run of the
    same scenario and seed is dropped. Two finished runs of one (experiment, scenario, seed) are
    an error.
    """
    root = Path(root)
    rows, failures, finished_dirs = [], [], set()
    for path in sorted(root.rglob("metrics.json")):
        try:
            record = read_json(path)
        except (OSError, ValueError) as err:
            failures.append(_failure({}, path.parent, f"unreadable metrics.json: {err}"))
            continue
        if not isinstance(record, dict) or record.get("kind") != "classify":
            continue
        try:
            rows.append(_row(record, path.parent, minority_class))
            finished_dirs.add(path.parent)
        except (KeyError, IndexError, TypeError, ValueError) as err:
            failures.append(_failure(record, path.parent, f"malformed metrics.json: {err!r}"))
    for path in sorted(root.rglob("failed.json")):
        try:
            record = read_json(path)
        except (OSError, ValueError) as err:
            record = {"kind": "classify", "error": f"unreadable failed.json: {err}"}
        if not isinstance(record, dict) or path.parent in finished_dirs:
            continue
        if record.get("kind") == "classify":
            failures.append(_failure(record, path.parent, str(record.get("error", "?"))))
    _check_unique(rows)
    done = {(r["scenario"], r["seed"]) for r in rows}
    failures = [f for f in failures if (f["scenario"], f["seed"]) not in done]
    study = read_study(root)
    seen = done | {(f["scenario"], f["seed"]) for f in failures}
    planned, missing = _planned(root, study)
    for scenario, seed in planned:
        if (scenario, seed) not in seen:
            failures.append(_failure({"scenario": scenario, "seed": seed}, None, missing))
    rank = _scenario_rank(study.get("scenarios") or SCENARIO_ORDER)
    rows.sort(key=lambda r: (rank(r["scenario"]), r["seed"]))
    failures.sort(key=lambda f: (rank(str(f["scenario"])), str(f["seed"])))
    return rows, failures


def _scenario_rank(order: Sequence[str]):
    return lambda s: (order.index(s), "") if s in order else (len(order), s)


def _check_unique(rows: list[dict]) -> None:
    seen: dict[tuple, str] = {}
    for r in rows:
        key = (r["experiment"], r["scenario"], r["seed"])
        if key in seen:
            raise UserError(
                f"two runs of scenario {key[1]} seed {key[2]}: {seen[key]} and "
                f"{r['run_dir']}; point the report at one study"
            )
        seen[key] = r["run_dir"]


def is_number(value: Any) -> bool:
    """True for an int or float that is not NaN."""
    return isinstance(value, int | float) and not math.isnan(value)


def _by_scenario(rows: Sequence[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["scenario"], []).append(r)
    return groups


def summarize(rows: Sequence[dict], metrics: Sequence[str] | None = None) -> list[dict]:
    """One row per scenario: n_seeds and ``<metric>/mean``, ``/ci_low``, ``/ci_high`` (95%, t)."""
    if metrics is None:  # every metric-path column ("test/...", "gan/...") the rows carry
        metrics = list(dict.fromkeys(k for r in rows for k in r if "/" in k))
    out = []
    for scenario, group in _by_scenario(rows).items():
        row: dict[str, Any] = {"scenario": scenario, "n_seeds": len({r["seed"] for r in group})}
        for name in metrics:
            values = [r[name] for r in group if is_number(r.get(name))]
            if values:
                stats = zip(("mean", "ci_low", "ci_high"), mean_ci(values), strict=True)
                row.update({f"{name}/{s}": v for s, v in stats})
        out.append(row)
    return out


def compare_to_baseline(
    rows: Sequence[dict],
    baseline: str = "original",
    metrics: Sequence[str] = ("test/f1_c0", "test/recall_c0"),
) -> list[dict]:
    """Paired (by seed) difference scenario - baseline per metric; [] without baseline runs.

    Each dict: scenario, baseline, metric, mean_diff, low, high, p_value, n, tested (n >= 3) and,
    when tested, p_holm (Holm-adjusted over all tested comparisons in the list).
    """
    base = {r["seed"]: r for r in rows if r["scenario"] == baseline}
    if not base:
        return []
    out = []
    for scenario, group in _by_scenario(rows).items():
        if scenario == baseline:
            continue
        for metric in metrics:
            pairs = [
                (r[metric], base[r["seed"]][metric])
                for r in group
                if r["seed"] in base
                and is_number(r.get(metric))
                and is_number(base[r["seed"]].get(metric))
            ]
            result = paired_difference([a for a, _ in pairs], [b for _, b in pairs])
            out.append({"scenario": scenario, "baseline": baseline, "metric": metric, **result})
            out[-1]["tested"] = result["n"] >= MIN_PAIRS_FOR_TEST
    tested = [c for c in out if c["tested"]]
    for c, p in zip(tested, holm([c["p_value"] for c in tested]), strict=True):
        c["p_holm"] = p
    return out


def _write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(columns), restval="", extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return write_text(path, buf.getvalue())


def summary_columns(summary: Sequence[dict]) -> list[str]:
    """Columns of summary.csv: scenario, n_seeds, then ``<metric>/mean|ci_low|ci_high``."""
    return ["scenario", "n_seeds", *dict.fromkeys(c for s in summary for c in s if "/" in c)]


def write_report(
    root: str | Path, out_dir: str | Path | None = None, minority_class: int = 0
) -> Path:
    """Write results.csv, summary.csv, report.md and figures/ into out_dir (default: root)."""
    return _build(root, out_dir, minority_class)[0]


def _build(root: str | Path, out_dir: str | Path | None, k: int) -> tuple[Path, str, list]:
    """Everything write_report does; also returns the results table and the failures."""
    root = Path(root)
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
    summary = summarize(rows)
    comparisons = compare_to_baseline(rows, metrics=(f"test/f1_c{k}", f"test/recall_c{k}"))
    _write_csv(out / "results.csv", rows, run_columns(k))
    _write_csv(out / "summary.csv", summary, summary_columns(summary))
    figures = write_figures(rows, summary, out, k)
    # Imported here: report_md reads this module's column names.
    from imbalance_gan.report_md import render_report, results_table

    text = render_report(root, read_study(root), rows, summary, comparisons, failures, figures, k)
    return write_text(out / "report.md", text), results_table(summary, k), failures


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write the report; exit 0, 1 when some runs failed, 2 on a user error."""
    parser = argparse.ArgumentParser(prog="python -m imbalance_gan.report", description=__doc__)
    parser.add_argument("dir", help="a study or multirun folder holding classify runs")
    parser.add_argument("--out", default=None, help="where to write (default: DIR)")
    args = parser.parse_args(argv)
    path, table, failures = report_user_errors(_build)(args.dir, args.out, 0)
    print(path)
    print(table)
    if failures:
        print(f"{len(failures)} run(s) failed or missing (report written anyway):", file=sys.stderr)
        for f in failures:
            print(f"  {f['scenario']} seed {f['seed']}: {f['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
