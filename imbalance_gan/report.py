"""Turn classify runs' ``metrics.json`` files into results.csv, summary.csv, report.md and figures.

Usage: ``python -m imbalance_gan.report <dir> [--out DIR]``. Reads nothing but the run folders'
``metrics.json`` / ``failed.json`` (and an optional ``<dir>/study.json``).
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

from imbalance_gan.errors import UserError, report_user_errors
from imbalance_gan.figures import write_figures
from imbalance_gan.files import read_json, write_text
from imbalance_gan.stats import holm, mean_ci, paired_difference

# Display order when study.json does not give one; unknown scenarios follow, alphabetically.
SCENARIO_ORDER = (
    "original",
    "vanilla",
    "dcgan",
    "cgan",
    "oversample",
    "weighted",
    "affine",
    "smote",
    "full",
)
MACRO_METRICS = ("test/accuracy", "test/f1_macro", "test/auroc_macro", "test/balanced_accuracy")
PER_CLASS = ("precision", "recall", "f1")
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
ALPHA = 0.05

# The original study document's results (test set of 10,000; a single run each, no seeds, no
# intervals), as recovered in shared/reference/original-study-facts.md, "Reported results".
PUBLISHED = {
    "original": (0.9859, 0.9859, 0.9997, 0.9969, 0.9704, 0.9835),
    "vanilla": (0.9890, 0.9890, 0.9998, 0.9990, 0.9745, 0.9866),
    "dcgan": (0.9877, 0.9877, 0.9998, 0.9979, 0.9745, 0.9861),
    "cgan": (0.9871, 0.9871, 0.9998, 1.0000, 0.9724, 0.9860),
}
PUBLISHED_COLUMNS = (
    "test/accuracy",
    "test/f1_macro",
    "test/auroc_macro",
    "test/precision_c0",
    "test/recall_c0",
    "test/f1_c0",
)
# Same source: a later run stored beside the notebooks (accuracy only).
PUBLISHED_LATER_ACCURACY = {"original": 0.9914, "vanilla": 0.9923, "dcgan": 0.9915, "cgan": 0.9912}

LABELS = {
    "test/accuracy": "accuracy",
    "test/f1_macro": "macro-F1",
    "test/auroc_macro": "macro AUC-ROC",
    "test/balanced_accuracy": "balanced accuracy",
}


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
        "device",
        "hardware",
        "epochs",
        "best_epoch",
        "wall_time_s",
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
    for key in ("device", "hardware", "epochs", "best_epoch", "wall_time_s"):
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


def _failure(record: dict, run_dir: Path, error: str) -> dict[str, Any]:
    return {
        "scenario": record.get("scenario", "?"),
        "seed": record.get("seed", "?"),
        "error": error,
        "run_dir": str(run_dir),
    }


def collect_runs(root: str | Path, minority_class: int = 0) -> tuple[list[dict], list[dict]]:
    """Find classify runs at any depth under ``root``: (one flat row per run, failed runs).

    Failures are ``failed.json`` files, unreadable ``metrics.json`` files, and runs that
    ``study.json`` plans but that left no file. A failure superseded by a finished run of the
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
    for seed, scenario in product(study.get("seeds", []), study.get("scenarios", [])):
        if (scenario, seed) not in seen:
            failures.append(
                {
                    "scenario": scenario,
                    "seed": seed,
                    "run_dir": "",
                    "error": "missing: no metrics.json or failed.json (not run yet?)",
                }
            )
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


def _is_num(value: Any) -> bool:
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
            values = [r[name] for r in group if _is_num(r.get(name))]
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
                and _is_num(r.get(metric))
                and _is_num(base[r["seed"]].get(metric))
            ]
            result = paired_difference([a for a, _ in pairs], [b for _, b in pairs])
            tested = result["n"] >= MIN_PAIRS_FOR_TEST
            out.append(
                {
                    "scenario": scenario,
                    "baseline": baseline,
                    "metric": metric,
                    **result,
                    "tested": tested,
                }
            )
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
    table = _results_table(summary, k)
    sections = (
        _protocol(root, read_study(root), rows),
        ["## Results", "", _RESULTS_NOTE, "", table],
        _comparison(comparisons),
        _published(summary, k),
        _gan_quality(summary, rows),
        _failed(failures),
        ["## Figures", ""] + [f"![{c}]({p})\n" for c, p in figures],
    )
    text = "\n".join(
        [f"# Imbalanced MNIST: does synthetic data help the rare class {k}?", ""]
        + [line for section in sections for line in [*section, ""]]
    )
    return write_text(out / "report.md", text), table, failures


# --- report.md sections -------------------------------------------------------------------------

_RESULTS_NOTE = (
    "Test set. Mean ± half-width of the 95% Student-t interval over "
    "seeds; a single seed shows the mean only."
)


def _fmt(s: dict, name: str, digits: int = 4) -> str:
    mean, low, high = (s.get(f"{name}/{x}", math.nan) for x in ("mean", "ci_low", "ci_high"))
    if not _is_num(mean):
        return "—"
    if not _is_num(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(high - low) / 2:.{digits}f}"


def _p(p: float) -> str:
    return "—" if not _is_num(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def _table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in body])


def _label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    stem, _, cls = name.removeprefix("test/").rpartition("_c")
    return f"class-{cls} {'F1' if stem == 'f1' else stem}"


def _results_table(summary: Sequence[dict], k: int) -> str:
    names = metric_names(k)
    return _table(
        ["scenario", "n seeds", *map(_label, names)],
        [[s["scenario"], s["n_seeds"], *(_fmt(s, m) for m in names)] for s in summary],
    )


def _duration(seconds: float) -> str:
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min ({seconds:,.0f} s)"


def _protocol(root: Path, study: dict, rows: Sequence[dict]) -> list[str]:
    def values(key: str) -> str:
        return ", ".join(sorted({str(r[key]) for r in rows if r.get(key)})) or "not recorded"

    seeds = study.get("seeds") or sorted({r["seed"] for r in rows})
    if _is_num(study.get("wall_time_s")):
        wall = f"{_duration(study['wall_time_s'])}, from study.json"
    else:
        gans = {r["gan_dir"]: r.get("gan/wall_time_s") or 0.0 for r in rows if r.get("gan_dir")}
        total = sum(r["wall_time_s"] or 0.0 for r in rows) + sum(gans.values())
        wall = (
            f"{_duration(total)}: sum of {len(rows)} classifier and {len(gans)} GAN runs "
            "(no study.json)"
        )
    lines = [
        "## Protocol",
        "",
        f"- Source: {len(rows)} finished classify runs under `{root}`",
        f"- Experiment profile: {study.get('experiment') or values('experiment')}",
        f"- Classifier epochs: {values('epochs')}",
        f"- Seeds: {', '.join(map(str, seeds))} (n = {len(seeds)})",
        f"- Scenarios: {', '.join(dict.fromkeys(r['scenario'] for r in rows))}",
        f"- Hardware: {study.get('hardware') or values('hardware')}",
        f"- Device(s): {values('device')}",
        f"- Total wall time: {wall}",
        "- Deviations from the original study:",
    ]
    if "deviations" not in study:
        return lines + ["  unknown (no study.json); see the comments in conf/"]
    return lines + ([f"  - {d}" for d in study["deviations"]] or ["  none listed"])


def _comparison(comparisons: Sequence[dict]) -> list[str]:
    lines = ["## Paired comparison vs original", ""]
    if not comparisons:
        return lines + ["No `original` runs, or no other scenario: nothing to compare."]
    body = []
    for c in comparisons:
        ci = f"[{c['low']:+.4f}, {c['high']:+.4f}]" if _is_num(c["low"]) else "—"
        if not c["tested"]:
            verdict, p, p_holm = f"no test (n<{MIN_PAIRS_FOR_TEST})", "—", "—"
        else:
            p, p_holm = _p(c["p_value"]), _p(c["p_holm"])
            verdict = (
                "no"
                if c["p_value"] >= ALPHA
                else "yes (also after Holm)"
                if c["p_holm"] < ALPHA
                else "yes (not after Holm)"
            )
        diff = f"{c['mean_diff']:+.4f}" if _is_num(c["mean_diff"]) else "—"
        body.append([c["scenario"], _label(c["metric"]), c["n"], diff, ci, p, p_holm, verdict])
    n_tests = sum(c["tested"] for c in comparisons)
    return lines + [
        "Difference scenario − original on the same seed (only seeds present in both). "
        "95% Student-t interval of the mean difference; p from a paired t-test "
        f"(`scipy.stats.ttest_rel`). The Holm-adjusted p accounts for the {n_tests} tests in "
        f"this table. With fewer than {MIN_PAIRS_FOR_TEST} paired seeds no test is possible. "
        "When every seed shows the same difference the variance is zero: p is then 1 for a "
        "zero difference, 0 otherwise.",
        "",
        _table(
            [
                "scenario",
                "metric",
                "n pairs",
                "mean diff",
                "95% CI",
                "p",
                "Holm p",
                "significant at 0.05",
            ],
            body,
        ),
    ]


def _published(summary: Sequence[dict], k: int) -> list[str]:
    ours = {s["scenario"]: s for s in summary}
    columns = [c if k == 0 or c in MACRO_METRICS else None for c in PUBLISHED_COLUMNS]
    body = []
    for scenario, values in PUBLISHED.items():
        body.append(
            [scenario, "published (single run, no interval)", *(f"{v:.4f}" for v in values)]
        )
        s = ours.get(scenario)
        mine = [_fmt(s, c) if s and c else "—" for c in columns]
        body.append([scenario, f"this study (n = {s['n_seeds']})" if s else "not run", *mine])
    later = ", ".join(f"{s} {v:.4f}" for s, v in PUBLISHED_LATER_ACCURACY.items())
    return [
        "## Published numbers from the original study",
        "",
        "Single run each, no seeds or intervals (shared/reference/original-study-facts.md). "
        f"A later run beside the original notebooks gave accuracy {later}: the two published "
        "runs differ by more than the scenarios do.",
        "",
        _table(["scenario", "source", *map(_label, PUBLISHED_COLUMNS)], body),
    ]


def _gan_quality(summary: Sequence[dict], rows: Sequence[dict]) -> list[str]:
    gans = {r["scenario"]: r["gan"] for r in rows if r.get("gan")}
    body = [
        [
            s["scenario"],
            gans[s["scenario"]],
            s["n_seeds"],
            _fmt(s, "gan/best_epoch", 1),
            *(_fmt(s, c) for c in list(GAN_FIELDS.values())[1:5]),
        ]
        for s in summary
        if s["scenario"] in gans
    ]
    if not body:
        return ["## GAN quality", "", "No GAN scenarios in these runs."]
    return [
        "## GAN quality",
        "",
        "Mean ± 95% CI over seeds. Selection score: the distance used "
        "to pick the best epoch (train side, lower is better); test distance: the same "
        "distance to the test set; precision/recall: fidelity and coverage of the samples.",
        "",
        _table(
            [
                "scenario",
                "GAN",
                "n seeds",
                "best epoch",
                "selection score (train)",
                "distance to test",
                "precision",
                "recall",
            ],
            body,
        ),
    ]


def _failed(failures: Sequence[dict]) -> list[str]:
    if not failures:
        return []
    body = [
        [
            f["scenario"],
            f["seed"],
            " ".join(f["error"].split()).replace("|", "/"),
            f"`{f['run_dir']}`" if f["run_dir"] else "—",
        ]
        for f in failures
    ]
    return [
        "## Failed runs",
        "",
        f"{len(failures)} run(s) failed or are missing; the tables above exclude them.",
        "",
        _table(["scenario", "seed", "error", "run dir"], body),
    ]


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
