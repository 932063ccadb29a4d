"""report.md from the tables of :mod:`aggregate`: protocol, results, paired comparison,
published numbers, GAN quality and failed runs, as markdown text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imbalance_gan.reporting.aggregate import MIN_PAIRS_FOR_TEST, is_number
from imbalance_gan.reporting.record import (
    GAN_EVAL,
    MACRO_METRICS,
    SELECTION_SCORE,
    metric_names,
)

# Significance level of the paired tests' verdict column.
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

_RESULTS_NOTE = (
    "Test set. Mean ± half-width of the 95% Student-t interval over "
    "seeds; a single seed shows the mean only."
)


def _fmt(s: dict, name: str, digits: int = 4) -> str:
    mean, low, high = (s.get(f"{name}/{x}", math.nan) for x in ("mean", "ci_low", "ci_high"))
    if not is_number(mean):
        return "—"
    if not is_number(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(high - low) / 2:.{digits}f}"


def _p(p: float) -> str:
    return "—" if not is_number(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def _table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in body])


def _label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    stem, _, cls = name.removeprefix("test/").rpartition("_c")
    return f"class-{cls} {'F1' if stem == 'f1' else stem}"


def results_table(summary: Sequence[dict], k: int) -> str:
    """The results table: one row per scenario, mean ± CI half-width of each test metric."""
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
    if is_number(study.get("wall_time_s")):
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
        ci = f"[{c['low']:+.4f}, {c['high']:+.4f}]" if is_number(c["low"]) else "—"
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
        diff = f"{c['mean_diff']:+.4f}" if is_number(c["mean_diff"]) else "—"
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
            *(_fmt(s, c) for c in (SELECTION_SCORE, *GAN_EVAL)),
        ]
        for s in summary
        if s["scenario"] in gans
    ]
    if not body:
        return ["## GAN quality", "", "No GAN scenarios in these runs."]
    return [
        "## GAN quality",
        "",
        f"Mean ± 95% CI over seeds. `{SELECTION_SCORE}`: the Fréchet distance used to pick the "
        "best epoch (train side, lower is better); `eval/fd_test`: the same distance to the test "
        "set; `eval/precision` / `eval/recall`: fidelity and coverage of the samples.",
        "",
        _table(
            [
                "scenario",
                "GAN",
                "n seeds",
                "best epoch",
                f"`{SELECTION_SCORE}` (selection)",
                *(f"`{c}`" for c in GAN_EVAL),
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


def render_report(
    root: Path,
    study: dict,
    rows: Sequence[dict],
    summary: Sequence[dict],
    comparisons: Sequence[dict],
    failures: Sequence[dict],
    figures: Sequence[tuple[str, str]],
    k: int,
) -> str:
    """The text of report.md; ``figures`` are (caption, relative path) pairs, k the minority class."""
    sections = (
        _protocol(root, study, rows),
        ["## Results", "", _RESULTS_NOTE, "", results_table(summary, k)],
        _comparison(comparisons),
        _published(summary, k),
        _gan_quality(summary, rows),
        _failed(failures),
        ["## Figures", ""] + [f"![{c}]({p})\n" for c, p in figures],
    )
    return "\n".join(
        [f"# Imbalanced MNIST: does synthetic data help the rare class {k}?", ""]
        + [line for section in sections for line in [*section, ""]]
    )
