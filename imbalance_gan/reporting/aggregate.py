"""From rows of results to tables: summaries over seeds, and paired comparisons of scenarios
with a baseline or with the best classic fix (rows come from :mod:`collect`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from imbalance_gan.reporting import columns
from imbalance_gan.reporting.stats import holm, mean_ci, paired_difference

# Fewer paired seeds than this: the t-test has too little to stand on, so we do not report one.
MIN_PAIRS_FOR_TEST = 3
#: significance level of the paired tests' verdicts when the study names none (study.alpha)
ALPHA = 0.05


def is_number(value: Any) -> bool:
    """True for an int or float that is not NaN."""
    return isinstance(value, int | float) and not math.isnan(value)


def _by_scenario(rows: Sequence[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["scenario"], []).append(r)
    return groups


SUMMARY_STATS = ("mean", "ci_low", "ci_high")


def summarize(rows: Sequence[dict], metrics: Sequence[str] | None = None) -> list[dict]:
    """One row per scenario: n_seeds, ``<metric>/mean``, ``/ci_low``, ``/ci_high`` (95%, t)
    and ``<metric>/seeds`` (the per-seed values, in seed order).

    A discrete quantity (:data:`columns.DISCRETE`), or a bounded one whose t-interval leaves
    [0, 1], gets no interval (``ci_low``/``ci_high`` are None): show its seeds instead.
    ``metrics`` defaults to every metric-path column (``test/...``, ``gan/...``) the rows carry.
    """
    if metrics is None:
        metrics = [
            k
            for k in dict.fromkeys(k for r in rows for k in r if "/" in k)
            if any(is_number(r.get(k)) for r in rows)
        ]
    out = []
    for scenario, group in _by_scenario(rows).items():
        row: dict[str, Any] = {"scenario": scenario, "n_seeds": len({r["seed"] for r in group})}
        for name in metrics:
            values = [
                r[name] for r in sorted(group, key=lambda r: r["seed"]) if is_number(r.get(name))
            ]
            if not values:
                continue
            mean, low, high = mean_ci(values)
            if name in columns.DISCRETE or (
                columns.is_bounded(name) and is_number(low) and (low < 0 or high > 1)
            ):
                low = high = None
            row.update({f"{name}/mean": mean, f"{name}/ci_low": low, f"{name}/ci_high": high})
            row[f"{name}/seeds"] = values
        out.append(row)
    return out


def summary_columns(summary: Sequence[dict]) -> list[str]:
    """Columns of summary.csv: scenario, n_seeds, then ``<metric>/mean|ci_low|ci_high``."""
    names = dict.fromkeys(c for s in summary for c in s if c.endswith(SUMMARY_STATS))
    return ["scenario", "n_seeds", *names]


def _paired(rows: Sequence[dict], baseline: str, metrics: Sequence[str]) -> list[dict]:
    """Paired (by seed) differences scenario - baseline, per metric; no Holm yet."""
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
            # a zero-variance difference has no p-value (nan): no test, left out of Holm
            out[-1]["tested"] = result["n"] >= MIN_PAIRS_FOR_TEST and is_number(result["p_value"])
    return out


def _holm(comparisons: list[dict]) -> list[dict]:
    tested = [c for c in comparisons if c["tested"]]
    for c, p in zip(tested, holm([c["p_value"] for c in tested]), strict=True):
        c["p_holm"] = p
    return comparisons


def compare_to_baseline(
    rows: Sequence[dict],
    baseline: str = "original",
    metrics: Sequence[str] = ("test/f1_c0", "test/recall_c0"),
) -> list[dict]:
    """Paired (by seed) difference scenario - baseline per metric; [] without baseline runs.

    Each dict: scenario, baseline, metric, mean_diff, low, high, p_value, n, tested (n >= 3 and
    a p-value exists) and, when tested, p_holm (Holm-adjusted over the tested comparisons).
    """
    return _holm(_paired(rows, baseline, metrics))


def classic_ranking(
    rows: Sequence[dict], val_metrics: Sequence[str], family: str = "classic"
) -> list[tuple[str, list]]:
    """The classic scenarios (``family: classic``; or those of another ``family``), best first,
    by their mean of each of ``val_metrics`` over seeds (validation split), the first metric
    first and the next ones breaking ties (a validation split of a few dozen minority images
    often ties); then by name order. Each entry: (scenario, [mean of each metric])."""
    ranked = []
    for scenario, group in _by_scenario(rows).items():
        if group[0].get("family") != family:
            continue
        means = [
            float(np.mean(values))
            if (values := [r[m] for r in group if is_number(r.get(m))])
            else -math.inf
            for m in val_metrics
        ]
        if means and means[0] > -math.inf:
            ranked.append((scenario, means))
    return sorted(ranked, key=lambda item: [-m for m in item[1]])


def best_classic(rows: Sequence[dict], val_metric: str, *tie_breakers: str) -> str | None:
    """The classic scenario with the highest mean ``val_metric`` over its seeds (ties broken by
    ``tie_breakers``): a choice made on the validation split, never on the test set. None
    without a classic scenario."""
    ranking = classic_ranking(rows, (val_metric, *tie_breakers))
    return ranking[0][0] if ranking else None


def _generators_vs(rows: Sequence[dict], classic: str, metrics: Sequence[str]) -> list[dict]:
    """Each generative scenario paired (by seed) with ``classic``; no Holm yet."""
    group = [r for r in rows if r.get("family") == "generative" or r["scenario"] == classic]
    return _paired(group, classic, metrics)


def compare_to_every_classic(rows: Sequence[dict], metrics: Sequence[str]) -> list[dict]:
    """Each generative scenario against each classic one, per test metric, paired by seed; Holm
    over all of them. Dicts as :func:`compare_to_baseline`'s. Nothing is chosen on the test set
    here: every pair is shown, the check for when a small validation split chooses poorly."""
    out = []
    for scenario, group in _by_scenario(rows).items():
        if group[0].get("family") == "classic":
            out += _generators_vs(rows, scenario, metrics)
    return _holm(out)


def compare_to_best_classic(
    rows: Sequence[dict], metrics: Sequence[tuple[str, str]], named: str | None = None
) -> list[dict]:
    """Each generative scenario against the best classic one, per (test metric, choosing metric)
    pair: the classic scenario ``named`` in config, or else the one with the best mean choosing
    metric (of the validation split, or of the test set's selection half). Dicts as
    :func:`compare_to_baseline`'s, plus ``chosen_on``; Holm runs over every tested comparison in
    the list."""
    out = []
    val_metrics = [v for _, v in metrics]
    for test_metric, val_metric in metrics:
        others = [v for v in val_metrics if v != val_metric]
        best = named or best_classic(rows, val_metric, *others)
        if best is None:
            continue
        for c in _generators_vs(rows, best, (test_metric,)):
            where = "selection half" if val_metric.startswith("select/") else "validation"
            c["chosen_on"] = "config (study.best_classic)" if named else f"{where} {val_metric}"
            out.append(c)
    return _holm(out)
