"""The original study's published numbers, and the section of report.md that sets this study's
beside them (the prose is in templates/published.md)."""

from __future__ import annotations

from imbalance_gan.reporting.columns import MACRO_METRICS
from imbalance_gan.reporting.prose import prose
from imbalance_gan.reporting.report_data import ReportData
from imbalance_gan.reporting.tables import fmt, label, table

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


def published(data: ReportData) -> list[str]:
    """The section: each published scenario's numbers above this study's mean ± CI (its
    per-class columns only when the minority is class 0, as it was there)."""
    ours = {s["scenario"]: s for s in data.summary}
    same_minority = list(data.minority) == [0]
    columns = [c if same_minority or c in MACRO_METRICS else None for c in PUBLISHED_COLUMNS]
    body = []
    for scenario, values in PUBLISHED.items():
        body.append(
            [scenario, "published (single run, no interval)", *(f"{v:.4f}" for v in values)]
        )
        s = ours.get(scenario)
        mine = [fmt(s, c) if s and c else "—" for c in columns]
        body.append([scenario, f"this study (n = {s['n_seeds']})" if s else "not run", *mine])
    later = ", ".join(f"{s} {v:.4f}" for s, v in PUBLISHED_LATER_ACCURACY.items())
    head = ["scenario", "source", *map(label, PUBLISHED_COLUMNS)]
    return [prose("published", "section", later=later, table=table(head, body))]
