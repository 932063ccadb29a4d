"""Which runs' added images carry a signature strong enough to warn of a shortcut: the signature
probe's AUC (``probe/signature_auc``) above the threshold the run recorded (``probe.warn_above``).
The Results table marks such scenarios with ⚠, as it marks collapsed generators; the signature
section lists the runs. A warning, not a verdict: nothing is left out of the comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imbalance_gan.reporting.aggregate import is_number
from imbalance_gan.reporting.columns import SIGNATURE, SIGNATURE_WARN


def shortcut(row: dict[str, Any]) -> bool | None:
    """Whether a run's signature AUC is above the shortcut threshold the run recorded: its added
    images carry a mark the classifier may learn instead of the class. None when the run recorded
    either not (nothing added, or a run from before the threshold was recorded)."""
    auc, above = row.get(SIGNATURE), row.get(SIGNATURE_WARN)
    if not (is_number(auc) and is_number(above)):
        return None
    return auc > above


def shortcut_counts(rows: Sequence[dict]) -> dict[str, tuple[int, int, str]]:
    """Scenario -> (seeds flagged by :func:`shortcut`, seeds it could judge, the threshold of the
    flagged ones as text), for the scenarios with a flagged seed."""
    judged: dict[str, list[dict]] = {}
    for r in rows:
        if shortcut(r) is not None:
            judged.setdefault(r["scenario"], []).append(r)
    out = {}
    for scenario, group in judged.items():
        flagged = [r for r in group if shortcut(r)]
        if flagged:
            above = " / ".join(f"{t:g}" for t in sorted({r[SIGNATURE_WARN] for r in flagged}))
            out[scenario] = (len(flagged), len(group), above)
    return out
