"""A run record of any earlier ``schema_version`` brought to the current shape, once, where it is
read (as detectron2's ``upgrade_config`` does for configs): a chain of steps per kind of record,
step ``k`` taking a record of version ``k`` to version ``k + 1``.

A step fills what records of its version may lack with None (not recorded), never with a number
the run did not measure; the two values it derives from what the record holds are named where
they are made. A reader of an upgraded record reads one shape: every field of the current
version is there, None where the run did not record it. A record of a newer version than this
code knows is refused, as there is no step down.

Each step describes the records of its version as they were written: its lists are frozen, not
taken from the builders in :mod:`imbalance_gan.record`, which describe the current version.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from imbalance_gan.record import (
    GAN_EVAL,
    GAN_EVAL_SIZES,
    SCHEMA_VERSION,
    SELECTION_SCORE,
    RecordError,
    schema_version,
)

Record = dict[str, Any]

# -- version 0 -> 1 -------------------------------------------------------------------------------
# Version 0 is every record written before records carried a version, of every age: a field is
# filled where it is missing, whatever else the record has.

#: the fields of a version-1 classify record that a version-0 one may lack: all but its identity
#: (kind, scenario, seed) and its test metrics, whose absence makes it no run record
_CLASSIFY_FIELDS_V1 = (
    "family",
    "experiment",
    "dataset",
    "epochs",
    "fixes",
    "best_epoch",
    "train_counts",
    "val_counts",
    "minority_classes",
    "class_names",
    "class_weights",
    "gan_run",
    "signature_auc",
    "chosen_tau",
    "synthetic_weight",
    "device",
    "hardware",
    "wall_time_s",
    "val_metrics",
)
#: the metrics of the test and validation splits that version-0 records may lack (recorded from
#: later on; the G-mean follows from the recalls, below); every record has had the others
_LATER_METRICS_V1 = ("gmean_recall", "average_precision", "auroc", "ece")
#: the metrics of each half of the test set (``select/``, ``report/``) in version 1, which
#: version-0 records lack altogether
_HALF_METRICS_V1 = (
    "accuracy",
    "f1_macro",
    "auroc_macro",
    "balanced_accuracy",
    "gmean_recall",
    "precision",
    "recall",
    "f1",
    "average_precision",
    "auroc",
    "ece",
)
#: the fields of a version-1 generator record (kind ``gan``, of any family) that a version-0 one
#: may lack, but for ``eval/n_pr`` and ``selection_unit`` (below); ``hardware``, which a classify
#: record's copy of the generator record leaves out, is not filled
_GENERATOR_FIELDS_V1 = (
    "experiment",
    "epochs",
    "max_steps",
    "best_epoch",
    "best_step",
    SELECTION_SCORE,
    *GAN_EVAL,
    *(name for name in GAN_EVAL_SIZES if name != "eval/n_pr"),
    "collapsed",
    "collapse_reason",
    "score_history",
    "num_synthetic",
    "minority_classes",
    "real_minority_train",
    "device",
    "wall_time_s",
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _gmean_recall(recalls: Any, key: str) -> float | None:
    """The G-mean of the per-class recalls: the metric's definition (classifier/metrics.py),
    made from the recalls the record holds; None without them."""
    if not recalls:
        return None
    try:
        values = [float(r) for r in recalls]
        return math.prod(values) ** (1.0 / len(values))
    except (TypeError, ValueError, OverflowError):
        raise RecordError(f"{key} is not a list of numbers") from None


def _split_v0_to_v1(metrics: Any, split: str) -> Any:
    """One split's metrics (``test``, with its halves, or ``val``) of a version-0 record, in
    version 1's shape."""
    if not isinstance(metrics, dict):
        return metrics  # not a record's metrics: left for the reader to refuse
    out = dict(metrics)
    if f"{split}/gmean_recall" not in out:
        key = f"{split}/recall"
        out[f"{split}/gmean_recall"] = _gmean_recall(out.get(key), key)
    for name in _LATER_METRICS_V1:
        out.setdefault(f"{split}/{name}", None)
    if split == "test":
        for half in ("select", "report"):
            for name in _HALF_METRICS_V1:
                out.setdefault(f"{half}/{name}", None)
    return out


def _classify_v0_to_v1(record: Record) -> Record:
    out = {**record, "schema_version": 1}
    for key in _CLASSIFY_FIELDS_V1:
        out.setdefault(key, None)
    if "metrics" in out:
        out["metrics"] = _split_v0_to_v1(out["metrics"], "test")
    out["val_metrics"] = _split_v0_to_v1(out["val_metrics"], "val")
    return out


def _generator_v0_to_v1(record: Record) -> Record:
    out = {**record, "schema_version": 1}
    for key in _GENERATOR_FIELDS_V1:
        out.setdefault(key, None)
    # selection by step came in with version 1's fields (max_steps, best_step): before, a
    # generator was chosen by epoch
    out.setdefault("selection_unit", "epoch")
    if "eval/n_pr" not in out:
        # before eval/n_pr was recorded, precision/recall used min(n_real, n_fake) of each
        real, fake = out["eval/n_real"], out["eval/n_fake"]
        out["eval/n_pr"] = min(real, fake) if _is_number(real) and _is_number(fake) else None
    return out


# -- version 1 -> 2 -------------------------------------------------------------------------------
# Version 2 records whether a generator's quality numbers can judge it, and the threshold of a
# classify run's shortcut warning. A version-1 run measured none of it: None (not recorded),
# never a verdict; the report judges nothing it was not told.

#: the fields a version-2 classify record adds
_CLASSIFY_FIELDS_V2 = ("signature_warn_above",)
#: the fields a version-2 generator record adds: the feature network's validation recall on the
#: rare class, the fewest held-out rare images, the real-vs-real scale of the selection score,
#: and the verdict they make
_GENERATOR_FIELDS_V2 = (
    "selection/feature_val_recall",
    "eval/n_held_out",
    "selection/fd_real_halves",
    "cannot_judge",
    "cannot_judge_reason",
)


def _classify_v1_to_v2(record: Record) -> Record:
    out = {**record, "schema_version": 2}
    for key in _CLASSIFY_FIELDS_V2:
        out.setdefault(key, None)
    return out


def _generator_v1_to_v2(record: Record) -> Record:
    out = {**record, "schema_version": 2}
    for key in _GENERATOR_FIELDS_V2:
        out.setdefault(key, None)
    return out


# -- the chains -----------------------------------------------------------------------------------
Step = Callable[[Record], Record]
#: step k takes a record of version k to version k + 1: one step per version, per kind
CLASSIFY_STEPS: tuple[Step, ...] = (_classify_v0_to_v1, _classify_v1_to_v2)
GENERATOR_STEPS: tuple[Step, ...] = (_generator_v0_to_v1, _generator_v1_to_v2)


def _chain(record: Record, steps: tuple[Step, ...], what: str) -> Record:
    """``record`` (a copy) taken through the steps from its own version on."""
    version = record.get("schema_version", 0)
    if _is_number(version) and version > SCHEMA_VERSION:
        raise RecordError(
            f"{what} of schema_version {version}, newer than this code reads ({SCHEMA_VERSION})"
        )
    if _is_number(version) and version < 0:
        raise RecordError(f"{what} of schema_version {version}, which no run writes")
    out = dict(record)
    for step in steps[schema_version(record) :]:
        out = step(out)
    return out


def upgrade(record: Record) -> Record:
    """``record`` (a run's ``metrics.json``, not a failure) in the current shape: a new dict, the
    given one untouched. A classify record's copy of its generator's record is upgraded by that
    record's own version (a cached generator may be older than the run that used it). A record of
    another kind is returned as it is. RecordError for a version newer than
    :data:`~imbalance_gan.record.SCHEMA_VERSION`, or a field an upgrade step cannot read."""
    kind = record.get("kind")
    if kind == "gan":
        return _chain(record, GENERATOR_STEPS, "generator record")
    if kind != "classify":
        return dict(record)
    out = _chain(record, CLASSIFY_STEPS, "record")
    gan = out.get("gan_run")
    if isinstance(gan, dict) and isinstance(gan.get("metrics"), dict):
        out["gan_run"] = {
            **gan,
            "metrics": _chain(gan["metrics"], GENERATOR_STEPS, "generator record"),
        }
    return out
