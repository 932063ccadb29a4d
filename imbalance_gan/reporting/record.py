"""The run record: what a finished run writes as ``metrics.json``, and the row the report makes
of it. One builder per kind of run (``gan``, ``classify``), one for failures, one reader.

Metric names are stable paths used unchanged in TensorBoard, ``metrics.json``, the CSVs and the
report: ``test/recall`` (per class; ``test/recall_c0`` in flat tables), ``selection/fd_train``,
``eval/fd_test``, ``eval/precision``, ``eval/recall``. Fields of the GAN run behind a classify
run are prefixed ``gan/`` in flat tables (``gan/best_epoch``), beside the classifier's own.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from imbalance_gan.runtime.files import read_json, write_json

#: written last by a run: its presence marks the run finished
RECORD_FILE = "metrics.json"
#: written by a run that failed (and the traceback beside it)
FAILURE_FILE = "failed.json"
ERROR_LOG = "error.log"

#: the GAN selection score (train side, lower is better)
SELECTION_SCORE = "selection/fd_train"
#: what a GAN run reports of its chosen checkpoint, against the test set (never used to choose)
GAN_EVAL = ("eval/fd_test", "eval/precision", "eval/recall")
#: classifier test metrics: scalars, and per-class lists (flattened to ``<name>_c<k>``)
MACRO_METRICS = ("test/accuracy", "test/f1_macro", "test/auroc_macro", "test/balanced_accuracy")
PER_CLASS = ("precision", "recall", "f1")
#: copied as they are from a classify record into its row
RUN_FIELDS = ("device", "hardware", "epochs", "best_epoch", "wall_time_s")
#: the GAN run behind a GAN scenario: record key -> column of the flat row
GAN_COLUMNS = {
    "best_epoch": "gan/best_epoch",
    SELECTION_SCORE: SELECTION_SCORE,
    **{name: name for name in GAN_EVAL},
    "wall_time_s": "gan/wall_time_s",
}


class RecordError(ValueError):
    """A ``metrics.json`` or ``failed.json`` that cannot be read as a run record."""


# -- building -----------------------------------------------------------------------------------
def gan_record(
    cfg: DictConfig,
    *,
    best_epoch: int,
    selection_score: float,
    evaluation: dict[str, float],
    score_history: list[tuple[int, float]],
    minority: list[int],
    real_minority_train: int,
    device: str,
    hardware: str,
    wall_time_s: float,
) -> dict[str, Any]:
    """The record of a GAN run: its chosen epoch, scores and what it generated."""
    return {
        "kind": "gan",
        "gan": cfg.gan.name,
        "seed": int(cfg.seed),
        "experiment": cfg.get("experiment"),
        "epochs": int(cfg.gan.max_epochs),
        "best_epoch": best_epoch,
        SELECTION_SCORE: selection_score,
        **{name: evaluation[name] for name in GAN_EVAL},
        "score_history": score_history,
        "num_synthetic": int(cfg.gan.num_synthetic),
        "minority_classes": minority,
        "real_minority_train": real_minority_train,
        "device": device,
        "hardware": hardware,
        "wall_time_s": wall_time_s,
    }


def gan_run_info(entry: Path, gan: dict[str, Any]) -> dict[str, Any]:
    """What a classify record keeps of the GAN run whose samples it used."""
    return {
        "dir": str(entry),
        "gan": gan["gan"],
        "metrics": {k: v for k, v in gan.items() if k != "hardware"},
    }


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
) -> dict[str, Any]:
    """The record of a classify run: what it trained on and every test metric."""
    return {
        "kind": "classify",
        "scenario": cfg.scenario.name,
        "seed": int(cfg.seed),
        "experiment": cfg.get("experiment"),
        "dataset": cfg.data.dataset,
        "epochs": int(cfg.classifier.max_epochs),
        "best_epoch": best_epoch,
        "train_counts": train_counts,
        "val_counts": val_counts,
        "minority_classes": minority,
        "class_weights": class_weights,
        "gan_run": gan_run,
        "device": device,
        "hardware": hardware,
        "wall_time_s": wall_time_s,
        "metrics": metrics,
    }


def write(out: Path, record: dict[str, Any]) -> Path:
    """Write the record as ``out/metrics.json`` (atomically; last, as it marks the run finished)."""
    return write_json(Path(out) / RECORD_FILE, record)


def write_failure(out: Path, kind: str, scenario: str, seed: int, err: BaseException) -> str:
    """Leave ``failed.json`` (one line) and ``error.log`` (the traceback being handled) in
    ``out``, so a study or a sweep's report shows the run as failed; returns the one line."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / ERROR_LOG).write_text(traceback.format_exc())
    message = f"{type(err).__name__}: {err}".splitlines()[0]
    write_json(
        out / FAILURE_FILE, {"kind": kind, "scenario": scenario, "seed": seed, "error": message}
    )
    return message


# -- reading ------------------------------------------------------------------------------------
def read(path: Path) -> dict[str, Any]:
    """A run record (or failure) from its JSON file; RecordError when it is not one."""
    try:
        value = read_json(path)
    except (OSError, ValueError) as err:
        raise RecordError(f"unreadable {Path(path).name}: {err}") from None
    if not isinstance(value, dict):
        raise RecordError(f"{path} holds no run record")
    return value


def metric_names(minority_class: int = 0) -> tuple[str, ...]:
    """The test-metric columns: macro metrics, then the minority class's precision/recall/F1."""
    return MACRO_METRICS + tuple(f"test/{m}_c{minority_class}" for m in PER_CLASS)


def run_columns(minority_class: int = 0) -> tuple[str, ...]:
    """Columns of results.csv, in order."""
    k = minority_class
    return (
        "scenario",
        "seed",
        "experiment",
        *RUN_FIELDS,
        *metric_names(k),
        f"n_real_c{k}",
        f"n_added_c{k}",
        "gan",
        *GAN_COLUMNS.values(),
        "gan_dir",
        "run_dir",
    )


def numeric_columns(minority_class: int = 0) -> tuple[str, ...]:
    """The columns of a row that are aggregated over seeds (metric paths)."""
    return (*metric_names(minority_class), *GAN_COLUMNS.values())


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def to_row(record: dict[str, Any], run_dir: Path, k: int) -> dict[str, Any]:
    """A classify record as one flat row of results (class ``k``'s per-class metrics).

    The row also carries the record itself under ``"record"`` (not a CSV column) for figures.
    """
    metrics, counts = record["metrics"], record.get("train_counts") or {}
    row: dict[str, Any] = {"scenario": str(record["scenario"]), "seed": int(record["seed"])}
    row["experiment"] = record.get("experiment")
    for key in RUN_FIELDS:
        row[key] = record.get(key)
    row.update({name: _num(metrics.get(name)) for name in MACRO_METRICS})
    row.update({f"test/{m}_c{k}": float(metrics[f"test/{m}"][k]) for m in PER_CLASS})
    row[f"n_real_c{k}"] = counts["real"][k] if "real" in counts else None
    row[f"n_added_c{k}"] = counts["added"][k] if "added" in counts else None
    gan = record.get("gan_run")
    if gan:
        row["gan"] = gan.get("gan")
        row.update({col: _num(gan["metrics"].get(key)) for key, col in GAN_COLUMNS.items()})
        row["gan_dir"] = gan.get("dir")
    row["run_dir"] = str(run_dir)
    row["record"] = record
    return row


def score_history(record: dict[str, Any]) -> Sequence[tuple[int, float]]:
    """The selection score per scored epoch of the GAN behind a classify record ([] if none)."""
    gan = record.get("gan_run") or {}
    return [tuple(h) for h in (gan.get("metrics") or {}).get("score_history") or []]
