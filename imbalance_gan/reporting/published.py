"""The original study's published numbers, the setting they were measured in, and the section of
report.md that sets this study's beside them when its runs are of that setting (the prose is in
templates/published.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imbalance_gan.reporting.prose import prose
from imbalance_gan.reporting.report_data import ReportData
from imbalance_gan.reporting.tables import fmt, label, table

#: the original study, as the report cites it
STUDY = "Enhancing Classification on Imbalanced MNIST Data using Generative Adversarial Networks"
# Its results (test set of 10,000; a single run each, no seeds, no intervals).
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
# A later run stored beside the study's public notebooks (accuracy only).
PUBLISHED_LATER_ACCURACY = {"original": 0.9914, "vanilla": 0.9923, "dcgan": 0.9915, "cgan": 0.9912}

#: the setting those numbers were measured in: MNIST (``data.dataset``), class 0 the one rare
#: class, cut to 300 of its 5,923 training images, every other class whole (54,377 training
#: images, the validation split included), tested on the standard 10,000 test images
PUBLISHED_DATASET = "mnist"
PUBLISHED_MINORITY = (0,)
PUBLISHED_TRAIN_COUNTS = (300, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
PUBLISHED_TEST_IMAGES = 10_000
#: the original study's classifier training: 20 epochs under ReduceLROnPlateau with patience 3
#: (the deviations a profile lists are checked against these: reporting/deviations.py)
STUDY_CLASSIFIER_EPOCHS = 20
STUDY_PLATEAU_PATIENCE = 3


def _of_published_setting(record: dict[str, Any]) -> bool:
    """Whether one classify record's data is the setting of :data:`PUBLISHED`: per class, the
    images drawn for training and validation, which are the real ones for a rare class and real
    and made ones for another (a class-agnostic scenario replaces some of those by warps)."""
    counts = record.get("train_counts")
    if record.get("dataset") != PUBLISHED_DATASET or not isinstance(counts, dict):
        return False
    try:
        real, added, val = counts["real"], counts["added"], record["val_counts"]
        drawn = tuple(
            real[k] + val[k] + (0 if k in PUBLISHED_MINORITY else added[k])
            for k in range(len(real))
        )
        if drawn != PUBLISHED_TRAIN_COUNTS:
            return False
        confusion = (record.get("metrics") or {}).get("test/confusion_matrix")
        return confusion is None or sum(map(sum, confusion)) == PUBLISHED_TEST_IMAGES
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return False  # a record of another shape is not of the setting


def is_published_setting(rows: Sequence[dict], minority: Sequence[int]) -> bool:
    """Whether the runs are of the setting the published numbers are for (MNIST, class 0 cut to
    300, the rest whole): never a folder, arrays, CIFAR, another dataset or another cut. A run
    that cuts nothing (``full``, no minority classes) does not count either way."""
    if tuple(minority) != PUBLISHED_MINORITY:
        return False
    cut = [r["record"] for r in rows if "record" in r and r["record"].get("minority_classes")]
    return bool(cut) and all(_of_published_setting(rec) for rec in cut)


def published(data: ReportData) -> list[str]:
    """The section: each published scenario's numbers above this study's mean ± CI; [] unless
    the runs are of the published setting (numbers of another setting are not comparable)."""
    if not is_published_setting(data.rows, data.minority):
        return []
    ours = {s["scenario"]: s for s in data.summary}
    body = []
    for scenario, values in PUBLISHED.items():
        body.append(
            [scenario, "published (single run, no interval)", *(f"{v:.4f}" for v in values)]
        )
        s = ours.get(scenario)
        mine = [fmt(s, c) if s else "—" for c in PUBLISHED_COLUMNS]
        body.append([scenario, f"this study (n = {s['n_seeds']})" if s else "not run", *mine])
    later = ", ".join(f"{s} {v:.4f}" for s, v in PUBLISHED_LATER_ACCURACY.items())
    head = ["scenario", "source", *map(label, PUBLISHED_COLUMNS)]
    text = table(head, body)
    return [prose("published", "section", study=STUDY, later=later, table=text)]
