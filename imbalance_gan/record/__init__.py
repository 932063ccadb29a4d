"""The run record: what a finished run writes as ``metrics.json`` (or ``failed.json``). One
builder per kind of run (``gan``, ``classify``), one for failures, one reader. Every layer may
use it; the flat rows and columns the report makes of records are in
:mod:`imbalance_gan.reporting.columns`.

Metric names are stable paths used unchanged in TensorBoard, ``metrics.json``, the CSVs and the
report: ``test/recall`` (per class; ``test/recall_c0`` in flat tables), ``selection/fd_train``,
``eval/fd_test``, ``eval/precision``, ``eval/recall``. Fields of the generator run behind a
classify run are prefixed ``gan/`` in flat tables (``gan/best_epoch``), beside the classifier's own.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from imbalance_gan.runtime.files import read_json, write_json

#: the shape of the records this version writes (``schema_version`` in each): 1 for the
#: records from 2026-12-07 on, 2 from 2026-12-08 on (a generator's ``cannot_judge`` and what
#: decides it, the selection score's real-vs-real scale, a classify run's
#: ``signature_warn_above``); a record without the field is of version 0, so a reader tells a
#: record's age from its version instead of from which keys it lacks (:func:`schema_version`).
#: A reader takes older records to this shape once, as it reads them
#: (:func:`imbalance_gan.record.upgrade.upgrade`, one step per version: a change to what the
#: builders write raises this and adds a step there)
SCHEMA_VERSION = 2
#: written last by a run: its presence marks the run finished
RECORD_FILE = "metrics.json"
#: written by a run that failed (and the traceback beside it)
FAILURE_FILE = "failed.json"
ERROR_LOG = "error.log"

#: the generator selection score (train side, lower is better)
SELECTION_SCORE = "selection/fd_train"
#: what a generator run reports of its chosen checkpoint (never used to choose; see
#: Selector.evaluate)
GAN_EVAL = (
    "eval/fd_train",
    "eval/fd_test",
    "eval/precision",
    "eval/recall",
    "eval/minority_share",
    "eval/real_minority_share",
    "copy/near_share",
    "copy/nn_ratio",
)
#: the sizes behind GAN_EVAL: real images on each side of the distances, generated images,
#: and images of each kind for precision/recall
GAN_EVAL_SIZES = ("eval/n_real", "eval/n_fake", "eval/n_pr")
#: the feature network's recall on the validation split's images of the rare class it
#: recognises least (trained on the training part only; None: a rare class has no validation
#: image): below ``selection.feature_recall_floor`` its space cannot judge the generator
FEATURE_VAL_RECALL = "selection/feature_val_recall"
#: the fewest held-out (test) real images of any rare class the quality is measured against:
#: below ``selection.min_held_out`` the numbers cannot judge the generator
N_HELD_OUT = "eval/n_held_out"
#: the selection score's scale: the same Fréchet distance between two random halves of the
#: training minority images (real vs real; training images only, like the score)
REAL_HALVES = "selection/fd_real_halves"
#: what a generator record (version 2 on) holds beside GAN_EVAL to say whether the quality
#: numbers can judge it, and the scale of its selection score
GAN_JUDGE = (FEATURE_VAL_RECALL, N_HELD_OUT, REAL_HALVES)


class RecordError(ValueError):
    """A ``metrics.json`` or ``failed.json`` that cannot be read as a run record."""


# -- building -----------------------------------------------------------------------------------
def collapse_fields(reasons: Sequence[str]) -> dict[str, Any]:
    """A generator record's ``collapsed``/``collapse_reason`` from the quality floor's misses."""
    return {"collapsed": bool(reasons), "collapse_reason": "; ".join(reasons) or None}


def judge_fields(reasons: Sequence[str]) -> dict[str, Any]:
    """A generator record's ``cannot_judge``/``cannot_judge_reason`` from why its quality numbers
    cannot judge it (:func:`~imbalance_gan.generators.quality.cannot_judge_reasons`): such a
    generator is neither passed nor failed by the floor, only flagged (its samples are used)."""
    return {"cannot_judge": bool(reasons), "cannot_judge_reason": "; ".join(reasons) or None}


def gan_record(
    cfg: DictConfig,
    *,
    best_epoch: int,
    selection_score: float,
    evaluation: dict[str, float],
    score_history: list[tuple[int, float]],
    minority: list[int],
    best_step: int | None = None,
    selection_unit: str = "epoch",
    filter_info: dict[str, int] | None = None,
    real_minority_train: int,
    collapse_reasons: list[str],
    cannot_judge_reasons: list[str],
    device: str,
    hardware: str,
    wall_time_s: float,
) -> dict[str, Any]:
    """The record of a generator run: its chosen epoch (and step, for a budget in steps), scores and
    what it generated (``filter/*``: how many samples a ``gan.filter`` drew and kept). A
    generator below the quality floor (``collapse_reasons`` not empty) is marked ``collapsed``;
    one its quality numbers cannot judge (``cannot_judge_reasons`` not empty: the feature
    network does not recognise the rare class, or too few held-out images) ``cannot_judge``.
    ``evaluation`` holds GAN_EVAL, GAN_EVAL_SIZES and GAN_JUDGE. ``score_history`` holds (epoch or
    step, score) pairs, as ``selection_unit`` says."""
    return {
        "kind": "gan",
        "schema_version": SCHEMA_VERSION,
        "gan": cfg.gan.name,
        "seed": int(cfg.seed),
        "experiment": cfg.get("experiment"),
        "epochs": int(cfg.gan.max_epochs),
        "max_steps": cfg.gan.get("max_steps"),
        "best_epoch": best_epoch,
        "best_step": best_step,
        "selection_unit": selection_unit,
        SELECTION_SCORE: selection_score,
        **{name: evaluation[name] for name in (*GAN_EVAL, *GAN_EVAL_SIZES)},
        **collapse_fields(collapse_reasons),
        **{name: evaluation[name] for name in GAN_JUDGE},
        **judge_fields(cannot_judge_reasons),
        "score_history": score_history,
        "num_synthetic": int(cfg.gan.num_synthetic),
        **(filter_info or {}),
        "minority_classes": minority,
        "real_minority_train": real_minority_train,
        "device": device,
        "hardware": hardware,
        "wall_time_s": wall_time_s,
    }


#: the generator's sample grid, copied into each classify run that used the generator
GAN_SAMPLES = "gan_samples.png"


def gan_run_info(entry: Path, gan: dict[str, Any]) -> dict[str, Any]:
    """What a classify record keeps of the generator run whose samples it used; ``dir`` is the
    cache entry relative to ``paths.artifact_dir`` (no machine's path in a record)."""
    return {
        "dir": f"{entry.parent.name}/{entry.name}",
        "gan": gan["gan"],
        "metrics": {k: v for k, v in gan.items() if k != "hardware"},
    }


#: the classifier's plug-in slots whose config a classify record keeps (conf/classifier/<slot>/)
FIX_SLOTS = ("loss", "sampler", "augment", "logit_adjustment", "retrain", "scheduler")


def classifier_fixes(cfg_classifier: DictConfig) -> dict[str, Any]:
    """What the classifier trained with in each slot: the resolved ``_target_`` config of its
    loss, sampler, batch augmentation, logit adjustment and schedule (None: none)."""
    out: dict[str, Any] = {}
    for slot in FIX_SLOTS:
        value = cfg_classifier.get(slot)
        out[slot] = OmegaConf.to_container(value, resolve=True) if value is not None else None
    return out


def fixes_summary(fixes: dict[str, Any] | None) -> str:
    """A record's ``fixes`` in one line, ``slot=Class(key=value, ...)`` for each slot that is
    set ('' for None: none recorded)."""
    parts = []
    for slot, value in (fixes or {}).items():
        if isinstance(value, dict) and value.get("_target_"):
            args = ", ".join(f"{k}={v}" for k, v in value.items() if not str(k).startswith("_"))
            parts.append(f"{slot}={str(value['_target_']).rsplit('.', 1)[-1]}({args})")
    return "; ".join(parts)


def _number_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def classify_record(
    cfg: DictConfig,
    *,
    best_epoch: int,
    train_counts: dict[str, list[int]],
    val_counts: list[int],
    minority: list[int],
    class_weights: list[float] | None,
    gan_run: dict[str, Any] | None,
    device: str,
    hardware: str,
    wall_time_s: float,
    metrics: dict[str, Any],
    val_metrics: dict[str, Any],
    signature_auc: float | None = None,
    chosen_tau: float | None = None,
    synthetic_weight: float | None = None,
    class_names: list[str] | None = None,
    epochs: int | None = None,
) -> dict[str, Any]:
    """The record of a classify run: what it trained on, every test metric, and the same
    metrics on the validation split for the checkpoint tested (for choices between scenarios).
    ``signature_auc``: how well a small CNN tells the added minority images from the real ones
    (0.5: not at all; ``None`` when nothing was added). ``chosen_tau``: the τ a logit adjustment
    chose on validation for the checkpoint tested (``None``: nothing chosen).
    ``synthetic_weight``: the loss weight of generated images (``None``: 1, like real ones).
    ``class_names``: the names of classes 0, 1, ... (an image folder's; ``None``: numbers only).
    ``epochs``: the epochs trained (``None``: ``classifier.max_epochs``).
    ``signature_warn_above`` (from ``probe.warn_above``): above this ``signature_auc`` the report
    warns of a shortcut (``None``: no warning).
    """
    return {
        "kind": "classify",
        "schema_version": SCHEMA_VERSION,
        "scenario": cfg.scenario.name,
        "family": cfg.scenario.get("family"),
        "seed": int(cfg.seed),
        "experiment": cfg.get("experiment"),
        "dataset": cfg.data.dataset,
        "epochs": int(cfg.classifier.max_epochs if epochs is None else epochs),
        "fixes": classifier_fixes(cfg.classifier),
        "best_epoch": best_epoch,
        "train_counts": train_counts,
        "val_counts": val_counts,
        "minority_classes": minority,
        "class_names": class_names,
        "class_weights": class_weights,
        "gan_run": gan_run,
        "signature_auc": signature_auc,
        "signature_warn_above": _number_or_none(OmegaConf.select(cfg, "probe.warn_above")),
        "chosen_tau": chosen_tau,
        "synthetic_weight": synthetic_weight,
        "device": device,
        "hardware": hardware,
        "wall_time_s": wall_time_s,
        "metrics": metrics,
        "val_metrics": val_metrics,
    }


def is_finished(run_dir: str | Path) -> bool:
    """A run is finished when its record exists (written last)."""
    return (Path(run_dir) / RECORD_FILE).is_file()


def write(out: Path, record: dict[str, Any]) -> Path:
    """Write the record as ``out/metrics.json`` (atomically; last, as it marks the run finished)."""
    return write_json(Path(out) / RECORD_FILE, record)


def write_failure(
    out: Path,
    kind: str,
    scenario: str,
    seed: int,
    err: BaseException,
    places: dict[str, str] | None = None,
) -> str:
    """Leave ``failed.json`` (one line) and ``error.log`` (the traceback being handled) in
    ``out``, so a study or a sweep's report shows the run as failed; returns the one line.

    ``places`` maps folders of this machine to names (``{"/data/runs/x": "<run dir>"}``): the
    line, which reports show, says the name instead (the traceback keeps the real path)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / ERROR_LOG).write_text(traceback.format_exc())
    message = f"{type(err).__name__}: {err}".splitlines()[0]
    for folder, name in sorted((places or {}).items(), key=lambda item: -len(item[0])):
        message = message.replace(folder, name)
    failure = {"kind": kind, "schema_version": SCHEMA_VERSION, "scenario": scenario}
    write_json(out / FAILURE_FILE, {**failure, "seed": seed, "error": message})
    return message


# -- reading ------------------------------------------------------------------------------------
#: the most bytes :func:`read` takes from a record file. Records hold a few kB (13 kB the largest
#: committed; a study.json less): 16 MiB is a thousand times that, and parses to at most about
#: half a GB of Python objects, so a stranger's file (20 GB of zeros, /dev/zero behind a link)
#: costs the report a bounded read, not all its memory
MAX_RECORD_BYTES = 16 * 2**20


def read(path: Path) -> dict[str, Any]:
    """A run record (or failure) from its JSON file; RecordError when it is not one (not a
    regular file, over MAX_RECORD_BYTES, not UTF-8 JSON, nested too deeply to parse)."""
    try:
        value = read_json(path, max_bytes=MAX_RECORD_BYTES)
    except (OSError, ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise RecordError(f"unreadable {Path(path).name}: {err}") from None
    except MemoryError:
        raise RecordError(f"unreadable {Path(path).name}: too large to parse") from None
    if not isinstance(value, dict):
        raise RecordError(f"{path} holds no run record")
    return value


def schema_version(record: dict[str, Any]) -> int:
    """The shape a run record (or failure) was written in: its ``schema_version``, 0 before
    records carried one."""
    version = record.get("schema_version", 0)
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


def gan_metrics(record: dict[str, Any]) -> dict[str, Any]:
    """The generator run's record kept in a classify record upgraded to the current shape
    (:mod:`imbalance_gan.record.upgrade`; {} when the scenario used none)."""
    return (record["gan_run"] or {}).get("metrics") or {}


def score_history(record: dict[str, Any]) -> Sequence[tuple[int, float]]:
    """The selection score per scored epoch (or step) of an upgraded classify record's
    generator ([] if none)."""
    return [tuple(h) for h in gan_metrics(record).get("score_history") or []]
