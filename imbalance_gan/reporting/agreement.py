"""Does a short protocol rank the scenarios as the long one does? For two studies of the same
runs under different protocols (``python -m imbalance_gan.report --agreement SHORT... --against
LONG``), every paired comparison the report makes (each generative scenario against each fix,
each scenario against ``original``), on minority F1 and recall, at both budgets: whether the
sign of the mean difference agrees, and whether the verdict (p below alpha) does.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from imbalance_gan.reporting.columns import key_metrics
from imbalance_gan.reporting.stats import paired_difference
from imbalance_gan.reporting.tables import label, p_text, table
from imbalance_gan.runtime.errors import UserError

ALPHA = 0.05


def read_rows(root: Path) -> list[dict]:
    path = Path(root) / "results.csv"
    if not path.is_file():
        raise UserError(f"{root} holds no results.csv: not a finished study or report")
    with open(path) as f:
        return list(csv.DictReader(f))


def _values(rows: Sequence[dict], scenario: str, metric: str) -> dict[int, float]:
    return {
        int(r["seed"]): float(r[metric])
        for r in rows
        if r["scenario"] == scenario and r.get(metric) not in (None, "")
    }


def comparisons(rows: Sequence[dict], baseline: str = "original") -> list[tuple[str, str]]:
    """(scenario, compared with) pairs: each generative scenario against each classic one and
    every scenario against ``baseline``."""
    family = {r["scenario"]: r["family"] for r in rows}
    gens = [s for s, f in family.items() if f == "generative"]
    fixes = [s for s, f in family.items() if f == "classic"]
    pairs = [(g, c) for g in gens for c in fixes]
    pairs += [(s, baseline) for s in family if s != baseline and baseline in family]
    return pairs


def _diff(rows: Sequence[dict], a: str, b: str, metric: str) -> dict:
    x, y = _values(rows, a, metric), _values(rows, b, metric)
    seeds = sorted(set(x) & set(y))
    return paired_difference([x[s] for s in seeds], [y[s] for s in seeds])


def _sign(d: float) -> int:
    return 0 if not math.isfinite(d) or d == 0 else (1 if d > 0 else -1)


def agreement(short: Sequence[dict], long: Sequence[dict], alpha: float = ALPHA) -> list[dict]:
    """Every comparison of :func:`comparisons` present in both, at both budgets."""
    minority = sorted({int(c.split("_c")[1]) for c in long[0] if c.startswith("test/f1_c")})
    out = []
    for a, b in comparisons(long):
        for metric in key_metrics(minority):
            s, lg = _diff(short, a, b, metric), _diff(long, a, b, metric)
            if s["n"] < 2 or lg["n"] < 2:
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
    long_rows = read_rows(long)
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
            Path(short).name, agreement(read_rows(short), long_rows, alpha), alpha
        )
    return "\n".join(lines)
