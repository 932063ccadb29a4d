"""Markdown building blocks of the report: numbers with their intervals, labels of metric
names, tables, and the results table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from imbalance_gan.reporting.aggregate import is_number
from imbalance_gan.reporting.columns import MACRO_METRICS, metric_names
from imbalance_gan.reporting.prose import prose

LABELS = {
    "test/accuracy": "accuracy",
    "test/f1_macro": "macro-F1",
    "test/auroc_macro": "macro AUC-ROC",
    "test/balanced_accuracy": "balanced accuracy",
    "test/gmean_recall": "G-mean of recalls",
    "test/ece": "ECE",
}


def fmt(s: dict | None, name: str, digits: int = 4) -> str:
    """Mean ± CI half-width; the per-seed values where there is no interval but several seeds."""
    if s is None:
        return "—"
    mean, low, high = (s.get(f"{name}/{x}", math.nan) for x in ("mean", "ci_low", "ci_high"))
    if not is_number(mean):
        return "—"
    if is_number(low) and is_number(high):
        return f"{mean:.{digits}f} ± {(high - low) / 2:.{digits}f}"
    seeds = s.get(f"{name}/seeds") or []
    if len(seeds) > 1:
        return f"{mean:.{digits}f} (seeds: {' / '.join(f'{v:.{digits}f}' for v in seeds)})"
    return f"{mean:.{digits}f}"


def p_text(p: float) -> str:
    return "—" if not is_number(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in body])


def label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    split, _, metric = name.partition("/")
    stem, _, cls = metric.rpartition("_")
    stem = {"f1": "F1", "average_precision": "AP", "auroc": "AUROC"}.get(stem, stem)
    who = "minority mean" if cls == "minority" else f"class-{cls.removeprefix('c')}"
    where = {"val": " (validation)", "select": " (selection half)", "report": " (report half)"}
    return f"{who} {stem}" + where.get(split, "")


def collapsed_counts(rows: Sequence[dict]) -> dict[str, tuple[int, int]]:
    """Scenario -> (seeds whose generator is below the quality floor, seeds with a generator)."""
    out: dict[str, tuple[int, int]] = {}
    for r in rows:
        if r.get("gan"):
            bad, n = out.get(r["scenario"], (0, 0))
            out[r["scenario"]] = (bad + bool(r.get("gan/collapsed")), n + 1)
    return out


def scenario_name(
    scenario: str,
    collapsed: dict[str, tuple[int, int]],
    shortcuts: dict[str, tuple[int, int, str]] | None = None,
) -> str:
    """The scenario's name with a ⚠ mark for each warning: a generator below the quality floor
    (``collapsed``: :func:`collapsed_counts`), a signature strong enough to be a shortcut
    (``shortcuts``: :func:`~imbalance_gan.reporting.shortcuts.shortcut_counts`)."""
    name = scenario
    bad, n = collapsed.get(scenario, (0, 0))
    if bad:
        name += f" ⚠ collapsed generator ({bad}/{n} seeds)"
    flagged, judged, above = (shortcuts or {}).get(scenario, (0, 0, ""))
    if flagged:
        name += f" ⚠ shortcut: signature AUC > {above} ({flagged}/{judged} seeds)"
    return name


def results_table(
    summary: Sequence[dict],
    minority: Sequence[int],
    collapsed: dict[str, tuple[int, int]] | None = None,
    shortcuts: dict[str, tuple[int, int, str]] | None = None,
) -> str:
    """The results tables, each narrow enough for a page: one row per scenario, mean ± CI
    half-width of each test metric; first the macro metrics, then one table per rare class
    (and one of their mean, with several) of its precision, recall, F1, AP and AUROC, each
    under its caption. A metric no run recorded is left out."""
    names = [m for m in metric_names(minority) if any(f"{m}/mean" in s for s in summary)]
    groups = [("", [m for m in names if m in MACRO_METRICS])]
    for who in [f"c{k}" for k in minority] + (["minority"] if len(minority) > 1 else []):
        groups.append((who, [m for m in names if m.endswith(f"_{who}")]))
    parts = []
    for who, metrics in groups:
        if not metrics:
            continue
        head = ["scenario", "n seeds"] if not who else ["scenario"]
        head += [label(m).split(" ")[-1] if who else label(m) for m in metrics]
        body = [
            [
                scenario_name(s["scenario"], collapsed or {}, shortcuts),
                *([s["n_seeds"]] if not who else []),
                *(fmt(s, m) for m in metrics),
            ]
            for s in summary
        ]
        text = table(head, body)
        if who:
            caption = label(f"test/f1_{who}").removesuffix(" F1")
            text = prose("results", "class_table", who=caption, table=text)
        parts.append(text)
    return "\n\n".join(parts)
