"""Does a short protocol rank the scenarios as the long one does? For studies of the same runs
under different protocols (``python -m imbalance_gan.report SHORT... --agreement LONG``), every
paired comparison the report makes (each generative scenario against each fix, each scenario
against ``original``), on minority F1 and recall, at both budgets: whether the sign of the mean
difference agrees, and whether the verdict (p below alpha) does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from imbalance_gan.reporting.aggregate import ALPHA, compare_to_baseline, compare_to_every_classic
from imbalance_gan.reporting.columns import key_metrics, minority_of, read_results
from imbalance_gan.reporting.tables import label, p_text, table


def _comparisons(rows: Sequence[dict], minority: Sequence[int], baseline: str) -> dict:
    """The report's paired comparisons of ``rows``, by (scenario, compared with, metric)."""
    metrics = key_metrics(minority)
    found = compare_to_every_classic(rows, metrics) + compare_to_baseline(rows, baseline, metrics)
    return {(c["scenario"], c["baseline"], c["metric"]): c for c in found}


def comparisons(rows: Sequence[dict], baseline: str = "original") -> list[tuple[str, str]]:
    """(scenario, compared with) pairs: each generative scenario against each classic one and
    every scenario against ``baseline``."""
    found = _comparisons(rows, minority_of(rows[0]), baseline)
    return list(dict.fromkeys((a, b) for a, b, _ in found))


def _sign(d: float) -> int:
    return 0 if not math.isfinite(d) or d == 0 else (1 if d > 0 else -1)


def agreement(short: Sequence[dict], long: Sequence[dict], alpha: float = ALPHA) -> list[dict]:
    """Every comparison of :func:`comparisons` present in both, at both budgets (rows as
    :func:`~imbalance_gan.reporting.columns.read_results` gives them)."""
    minority = minority_of(long[0])
    at_short = _comparisons(short, minority, "original")
    out = []
    for (a, b, metric), lg in _comparisons(long, minority, "original").items():
        s = at_short.get((a, b, metric))
        if s is None or s["n"] < 2 or lg["n"] < 2:
            continue
        sig_s = math.isfinite(s["p_value"]) and s["p_value"] < alpha
        sig_l = math.isfinite(lg["p_value"]) and lg["p_value"] < alpha
        out.append(
            {
                "scenario": a,
                "against": b,
                "metric": metric,
                "short": s,
                "long": lg,
                "sign_agrees": _sign(s["mean_diff"]) == _sign(lg["mean_diff"]),
                "verdict_agrees": sig_s == sig_l,
            }
        )
    return out


def _cell(d: dict) -> str:
    return f"{d['mean_diff']:+.4f} (p {p_text(d['p_value'])}, n {d['n']})"


def agreement_markdown(name: str, rows: Sequence[dict], alpha: float = ALPHA) -> list[str]:
    """One arm's table against the long protocol, with its counts of agreement."""
    if not rows:
        return [f"### {name}", "", "No comparison with at least two paired seeds in both.", ""]
    signs = sum(r["sign_agrees"] for r in rows)
    verdicts = sum(r["verdict_agrees"] for r in rows)
    both = sum(r["sign_agrees"] and r["verdict_agrees"] for r in rows)
    body = [
        [
            f"{r['scenario']} − {r['against']}",
            label(r["metric"]),
            _cell(r["short"]),
            _cell(r["long"]),
            "yes" if r["sign_agrees"] else "**no**",
            "yes" if r["verdict_agrees"] else "**no**",
        ]
        for r in rows
    ]
    head = ["comparison", "metric", "short protocol", "long protocol", "sign", f"p < {alpha}"]
    return [
        f"### {name}",
        "",
        f"{len(rows)} comparisons: the sign agrees in {signs}, the verdict (p < {alpha}, "
        f"uncorrected) in {verdicts}, both in {both}.",
        "",
        table(head, body),
        "",
    ]


def agreement_report(shorts: Sequence[Path], long: Path, alpha: float = ALPHA) -> str:
    """The markdown of every short arm against the long one."""
    long_rows = read_results(long)[0]
    lines = [
        f"## Agreement with `{Path(long).name}`",
        "",
        "Each comparison at the short budget beside the same comparison at the long one, paired "
        "by seed over the seeds both have. A short protocol that agrees in sign and verdict on "
        "every comparison ranks the scenarios as the long one does.",
        "",
    ]
    for short in shorts:
        lines += agreement_markdown(
            Path(short).name, agreement(read_results(short)[0], long_rows, alpha), alpha
        )
    return "\n".join(lines)
