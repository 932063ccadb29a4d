"""Per-seed statistics: Student-t means and intervals, paired differences, Holm correction.

Pure functions of plain numbers. Seeds are few (3-10), so intervals use the t distribution,
not the normal one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

NAN = float("nan")
#: differences spread less than this (relative to their size) count as identical
ZERO_SPREAD = 1e-6


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval ``(mean, low, high)``; n=1 gives ``(v, nan, nan)``.

    n=0 gives all nan. Identical values give a zero-width interval ``(v, v, v)``.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return NAN, NAN, NAN
    mean = float(x.mean())
    if x.size == 1:
        return mean, NAN, NAN
    sem = float(x.std(ddof=1)) / math.sqrt(x.size)
    if sem == 0.0:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, df=x.size - 1)) * sem
    return mean, mean - half, mean + half


def paired_difference(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95
) -> dict[str, float | int]:
    """Paired t comparison of per-seed values, diff = a - b: mean_diff, low, high, p_value, n.

    ``a[i]`` and ``b[i]`` must come from the same seed. n<2: CI and p are nan. When every
    difference is identical the t statistic is undefined (zero variance): the interval is the
    degenerate [mean, mean] and p is nan, no test. (A metric that moves in coarse steps, such
    as recall on 980 images, can show the same difference on 3 seeds by chance; calling that
    p = 0 would count it as certain.)
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired values need equal 1-d lengths, got {x.shape} and {y.shape}")
    diff = x - y
    n = int(diff.size)
    mean, low, high = mean_ci(diff, confidence)
    # "the same" up to float noise: float32 metrics that differ by the same count on every
    # seed differ in their last bits, and a t-test on that noise would claim certainty
    if n < 2 or np.ptp(diff) <= ZERO_SPREAD * max(1.0, abs(mean)):
        p = NAN
    else:
        p = float(stats.ttest_rel(x, y).pvalue)
    return {"mean_diff": mean, "low": low, "high": high, "p_value": p, "n": n}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given; nan stays nan, not counted)."""
    p = np.asarray(p_values, dtype=float)
    finite = np.flatnonzero(~np.isnan(p))
    m = finite.size
    order = finite[np.argsort(p[finite], kind="stable")]
    adjusted = np.full(p.shape, NAN)
    running = 0.0
    for rank, i in enumerate(order):
        # Step-down: each adjusted p is at least the one before it, capped at 1.
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()
