"""The flat view of run records: results.csv's columns, in order, and the row of one classify
record (per-class metrics flattened to ``<name>_c<k>``; the fields of the generator run behind
it prefixed ``gan/``). Records are read in the current shape
(:func:`~imbalance_gan.record.upgrade.upgrade`): a field a run did not record is None."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imbalance_gan.record import (
    FEATURE_VAL_RECALL,
    GAN_EVAL,
    N_HELD_OUT,
    REAL_HALVES,
    SELECTION_SCORE,
    fixes_summary,
)
from imbalance_gan.runtime.errors import UserError

#: classifier test metrics: scalars, and per-class lists (flattened to ``<name>_c<k>``)
MACRO_METRICS = (
    "test/accuracy",
    "test/f1_macro",
    "test/auroc_macro",
    "test/balanced_accuracy",
    "test/gmean_recall",
    "test/ece",
)
PER_CLASS = ("precision", "recall", "f1")
#: the threshold-free per-class metrics, None where a run did not record them (their columns
#: stay empty)
RANKING_PER_CLASS = ("average_precision", "auroc")
#: the signature probe's ROC AUC (scenarios/signature.py): a column of results.csv
SIGNATURE = "probe/signature_auc"
#: the AUC above which a run's signature is a shortcut warning (``probe.warn_above``, as the run
#: recorded it; empty for runs before it was recorded): a column of results.csv
SIGNATURE_WARN = "probe/signature_warn_above"
#: copied as they are from a classify record into its row (``chosen_tau``: the τ a logit
#: adjustment chose on validation, empty when none was chosen or none was recorded;
#: ``synthetic_weight``: the loss weight of generated images, empty for 1)
RUN_FIELDS = (
    "device",
    "hardware",
    "epochs",
    "best_epoch",
    "wall_time_s",
    "chosen_tau",
    "synthetic_weight",
)
#: the generator run behind a generative scenario: record key -> column of the flat row
GAN_COLUMNS = {
    "best_epoch": "gan/best_epoch",
    "best_step": "gan/best_step",
    SELECTION_SCORE: SELECTION_SCORE,
    REAL_HALVES: REAL_HALVES,
    **{name: name for name in GAN_EVAL},
    FEATURE_VAL_RECALL: FEATURE_VAL_RECALL,
    N_HELD_OUT: N_HELD_OUT,
    "wall_time_s": "gan/wall_time_s",
}


#: quantities that only take whole values: shown per seed, never with a t-interval
DISCRETE = ("gan/best_epoch", "gan/best_step", N_HELD_OUT)
#: unbounded generator quantities (distances, ratios, seconds); every other metric lies in
#: [0, 1]
UNBOUNDED = (
    SELECTION_SCORE,
    REAL_HALVES,
    "eval/fd_train",
    "eval/fd_test",
    "copy/nn_ratio",
    "gan/wall_time_s",
)


def is_bounded(name: str) -> bool:
    """True for a metric that lies in [0, 1] (accuracy, recall, shares, ...)."""
    return name not in UNBOUNDED and name not in DISCRETE


def metric_names(minority: Sequence[int] = (0,)) -> tuple[str, ...]:
    """The test-metric columns: macro metrics, each minority class's precision/recall/F1 and,
    with several minority classes, their means (``test/recall_minority``)."""
    per_class = tuple(f"test/{m}_c{k}" for k in minority for m in PER_CLASS + RANKING_PER_CLASS)
    means = (
        tuple(f"test/{m}_minority" for m in PER_CLASS + RANKING_PER_CLASS)
        if len(minority) > 1
        else ()
    )
    return MACRO_METRICS + per_class + means


def ap_metric(minority: Sequence[int] = (0,), split: str = "test") -> str:
    """The minority's average precision (the mean over several minority classes): the
    threshold-free metric the comparisons show beside F1 and recall."""
    return f"{split}/average_precision_{f'c{minority[0]}' if len(minority) == 1 else 'minority'}"


def key_metrics(minority: Sequence[int] = (0,), split: str = "test") -> tuple[str, ...]:
    """The minority metrics scenarios are compared on: F1 and recall of the one minority class,
    or their means over several."""
    suffix = f"c{minority[0]}" if len(minority) == 1 else "minority"
    return (f"{split}/f1_{suffix}", f"{split}/recall_{suffix}")


#: the two halves of the test set (classifier/metrics.split_halves) and what results.csv keeps of
#: each
HALVES = ("select", "report")
HALF_PER_CLASS = ("f1", "recall", "precision", "average_precision")


def half_metrics(minority: Sequence[int] = (0,), half: str = "report") -> tuple[str, ...]:
    """The minority's F1, recall, precision and AP on one half of the test set."""
    suffix = f"c{minority[0]}" if len(minority) == 1 else "minority"
    return tuple(f"{half}/{m}_{suffix}" for m in HALF_PER_CLASS)


def half_columns(minority: Sequence[int] = (0,)) -> tuple[str, ...]:
    return tuple(c for half in HALVES for c in half_metrics(minority, half))


def has_halves(rows: Sequence[dict], minority: Sequence[int] = (0,)) -> bool:
    """Whether every row has its metrics on both halves of the test set (a row of results.csv
    or of :func:`to_row`; runs that did not record the halves have none)."""
    return all(r.get(c) is not None for r in rows for c in half_columns(minority))


def run_columns(minority: Sequence[int] = (0,)) -> tuple[str, ...]:
    """Columns of results.csv, in order."""
    return (
        "scenario",
        "family",
        "seed",
        "experiment",
        "fixes",
        *RUN_FIELDS,
        *metric_names(minority),
        *key_metrics(minority, "val"),
        ap_metric(minority, "val"),
        *half_columns(minority),
        SIGNATURE,
        SIGNATURE_WARN,
        *(f"n_real_c{k}" for k in minority),
        *(f"n_added_c{k}" for k in minority),
        *(f"n_val_c{k}" for k in minority),
        "gan",
        *GAN_COLUMNS.values(),
        "gan/collapsed",
        "gan/collapse_reason",
        "gan/cannot_judge",
        "gan/cannot_judge_reason",
        "gan_dir",
        "run_dir",
    )


def numeric_columns(minority: Sequence[int] = (0,)) -> tuple[str, ...]:
    """The columns of a row that are aggregated over seeds (metric paths)."""
    return (
        *metric_names(minority),
        *key_metrics(minority, "val"),
        ap_metric(minority, "val"),
        *half_columns(minority),
        SIGNATURE,
        *GAN_COLUMNS.values(),
    )


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _class_metrics(metrics: dict[str, Any], split: str, minority: Sequence[int]) -> dict:
    out = {
        f"{split}/{m}_c{k}": float(metrics[f"{split}/{m}"][k]) for k in minority for m in PER_CLASS
    }
    for m in RANKING_PER_CLASS:
        values = metrics[f"{split}/{m}"]
        out.update(
            {f"{split}/{m}_c{k}": None if values is None else float(values[k]) for k in minority}
        )
    if len(minority) > 1:
        for m in PER_CLASS + RANKING_PER_CLASS:
            values = [out[f"{split}/{m}_c{k}"] for k in minority]
            mean = None if None in values else sum(values) / len(values)
            out[f"{split}/{m}_minority"] = mean
    return out


def _seed(value: Any) -> int:
    """A record's seed: an integer (or its digits); TypeError for another value (1.5 would
    otherwise pass as seed 1, a list never match a planned run)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"seed {value!r} is not an integer")
    return int(value)


def _text(value: Any, key: str) -> str | None:
    """A record's name field (rows are grouped by it): a string or None, else TypeError."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} {value!r} is not a string")
    return value


def to_row(
    record: dict[str, Any], path: Path, run_dir: str, minority: Sequence[int]
) -> dict[str, Any]:
    """A classify record, upgraded to the current shape, as one flat row of results (per-class
    metrics of the ``minority`` classes). ``path`` is the run's folder, ``run_dir`` its name in
    the report (relative).

    The row also carries the record (``"record"``) and ``path``, not CSV columns, for figures.
    """
    metrics, counts = record["metrics"], record["train_counts"] or {}
    row: dict[str, Any] = {
        "scenario": str(record["scenario"]),
        "family": _text(record["family"], "family"),
        "seed": _seed(record["seed"]),
        "experiment": _text(record["experiment"], "experiment"),
        "fixes": fixes_summary(record["fixes"]),
    }
    for key in RUN_FIELDS:
        row[key] = record[key]
    row.update({name: _num(metrics[name]) for name in MACRO_METRICS})
    row.update(_class_metrics(metrics, "test", minority))
    if record["val_metrics"]:
        val = _class_metrics(record["val_metrics"], "val", minority)
        names = (*key_metrics(minority, "val"), ap_metric(minority, "val"))
        row.update({name: val[name] for name in names})
    for half in HALVES:  # None where the run did not record the halves
        if metrics[f"{half}/recall"] is not None:
            values = _class_metrics(metrics, half, minority)
            row.update({name: values[name] for name in half_metrics(minority, half)})
    row[SIGNATURE] = _num(record["signature_auc"])
    row[SIGNATURE_WARN] = _num(record["signature_warn_above"])
    for k in minority:
        row[f"n_real_c{k}"] = counts["real"][k] if "real" in counts else None
        row[f"n_added_c{k}"] = counts["added"][k] if "added" in counts else None
        row[f"n_val_c{k}"] = record["val_counts"][k] if record["val_counts"] else None
    gan = record["gan_run"]
    if gan:
        row["gan"] = gan["gan"]
        row.update({col: _num(gan["metrics"][key]) for key, col in GAN_COLUMNS.items()})
        row["gan/collapsed"] = gan["metrics"]["collapsed"]
        row["gan/collapse_reason"] = gan["metrics"]["collapse_reason"]
        row["gan/cannot_judge"] = gan["metrics"]["cannot_judge"]
        row["gan/cannot_judge_reason"] = gan["metrics"]["cannot_judge_reason"]
        row["gan_dir"] = gan["dir"]
    row["run_dir"] = run_dir
    row["record"] = record  # not CSV columns: for figures
    row["path"] = Path(path)
    return row


def minority_of(columns: Sequence[str]) -> list[int]:
    """The minority classes a row's (or a header's) per-class columns are for."""
    return sorted({int(c.split("_c")[1]) for c in columns if c.startswith("test/f1_c")})


def read_results(root: str | Path) -> tuple[list[dict], list[int]]:
    """The rows of ``<root>/results.csv`` with their numbers as numbers (the seed, the
    aggregated metric columns and the image counts; an empty cell is None), and the minority
    classes its columns are for: rows :mod:`aggregate` takes as it takes :func:`to_row`'s."""
    path = Path(root) / "results.csv"
    if not path.is_file():
        raise UserError(f"{root} holds no results.csv: not a finished study or report")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    header = rows[0] if rows else {}
    minority = minority_of(header)
    numeric = {*numeric_columns(minority), *(c for c in header if c.startswith("n_"))}
    for r in rows:
        r["seed"] = int(r["seed"])
        for c in numeric & r.keys():
            r[c] = None if r[c] in ("", None) else float(r[c])
    return rows, minority
