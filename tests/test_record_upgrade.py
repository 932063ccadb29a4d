"""Run records of every schema_version are upgraded once, where the report reads them, to the
shape the builders write now: what an old record lacks is None (or, for two fields, what the
record itself says), never a number the run did not measure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from imbalance_gan import record
from imbalance_gan.classifier.metrics import classification_metrics, half_metrics
from imbalance_gan.record.upgrade import CLASSIFY_STEPS, GENERATOR_STEPS, upgrade
from imbalance_gan.reporting.collect import collect_runs
from imbalance_gan.reporting.columns import to_row

from .conftest import ROOT
from .test_report import KNOWN, _metrics_json, make_study

CFG = OmegaConf.create(
    {
        "seed": 0,
        "experiment": "smoke",
        "scenario": {"name": "dcgan", "family": "generative"},
        "data": {"dataset": "mnist"},
        "classifier": {"max_epochs": 2},
        "gan": {"name": "dcgan", "max_epochs": 4, "max_steps": None, "num_synthetic": 10},
    }
)


def _gan_record() -> dict:
    """A GAN record as the current builder writes it."""
    names = (*record.GAN_EVAL, *record.GAN_EVAL_SIZES, *record.GAN_JUDGE)
    evaluation = {name: 0.5 for name in names}
    return record.gan_record(
        CFG,
        best_epoch=2,
        selection_score=3.0,
        evaluation=evaluation,
        score_history=[(2, 3.0)],
        minority=[0],
        real_minority_train=27,
        collapse_reasons=[],
        cannot_judge_reasons=[],
        device="cpu",
        hardware="test box",
        wall_time_s=1.0,
    )


def _classify_record() -> dict:
    """A classify record as the current builder writes it, with every metric a run records."""
    probs = torch.softmax(torch.randn(40, 3, generator=torch.Generator().manual_seed(0)), 1)
    target = torch.arange(40) % 3
    gan = record.gan_run_info(Path("/cache/gan/dcgan-seed0"), _gan_record())
    return record.classify_record(
        CFG,
        best_epoch=1,
        train_counts={"real": [27, 60, 60], "added": [33, 0, 0], "total": [60, 60, 60]},
        val_counts=[3, 6, 6],
        minority=[0],
        class_weights=None,
        gan_run=gan,
        device="cpu",
        hardware="test box",
        wall_time_s=2.0,
        metrics={**classification_metrics(probs, target), **half_metrics(probs, target)},
        val_metrics=classification_metrics(probs, target, prefix="val"),
    )


def _committed_records() -> list[Path]:
    return sorted((ROOT / "results").rglob(record.RECORD_FILE))


def test_one_step_per_version_for_each_kind_of_record() -> None:
    assert len(CLASSIFY_STEPS) == len(GENERATOR_STEPS) == record.SCHEMA_VERSION


def test_a_current_record_is_returned_as_it_is_and_the_given_one_is_never_changed() -> None:
    current = _classify_record()
    assert upgrade(current) == current and upgrade(current) is not current
    old = {k: v for k, v in current.items() if k not in ("schema_version", "fixes")}
    kept = json.dumps(old, sort_keys=True)
    upgraded = upgrade(old)
    assert json.dumps(old, sort_keys=True) == kept  # the record as read is left alone
    assert upgraded["schema_version"] == record.SCHEMA_VERSION and upgraded["fixes"] is None


@pytest.mark.parametrize("path", _committed_records(), ids=lambda p: str(p.parent.name))
def test_every_committed_record_upgrades_to_the_shape_the_builders_write(path: Path) -> None:
    current = _classify_record()
    got = upgrade(record.read(path))
    assert record.schema_version(got) == record.SCHEMA_VERSION
    assert set(current) <= set(got)
    assert set(current["metrics"]) <= set(got["metrics"])
    assert set(current["val_metrics"]) - {"val/confusion_matrix", "val/loss"} <= set(
        got["val_metrics"]
    )
    if got["gan_run"]:
        gan = got["gan_run"]["metrics"]
        assert set(current["gan_run"]["metrics"]) <= set(gan)
        assert record.schema_version(gan) == record.SCHEMA_VERSION


def test_what_an_old_record_lacks_is_none_and_no_number_is_made_up(tmp_path: Path) -> None:
    _metrics_json(tmp_path, "dcgan", 0, tmp_path / "gan")  # the shape of the oldest records
    old = record.read(tmp_path / "metrics.json")
    got = upgrade(old)
    for key in ("fixes", "class_names", "chosen_tau", "synthetic_weight", "signature_auc"):
        assert key not in old and got[key] is None
    for key in ("test/average_precision", "test/auroc", "test/ece", "val/average_precision"):
        split = "val_metrics" if key.startswith("val/") else "metrics"
        assert got[split][key] is None
    for half in ("select", "report"):
        assert got["metrics"][f"{half}/recall"] is None and got["metrics"][f"{half}/f1"] is None
    gan = got["gan_run"]["metrics"]
    assert gan["best_step"] is None and gan["max_steps"] is None
    assert gan["eval/real_minority_share"] is None and gan["copy/near_share"] is None
    # nor whether its quality numbers could judge it (version 2): not judged, not passed
    for key in (*record.GAN_JUDGE, "cannot_judge", "cannot_judge_reason"):
        assert gan[key] is None
    assert got["signature_warn_above"] is None  # no shortcut threshold was in force
    # what the record itself says: a GAN of version 0 was chosen by epoch, and its precision and
    # recall used min(n_real, n_fake) images of each kind
    assert gan["selection_unit"] == "epoch" and gan["eval/n_pr"] == 270


def test_the_g_mean_of_an_old_record_follows_from_its_recalls(tmp_path: Path) -> None:
    _metrics_json(tmp_path / "r", "original", 0)  # a record without test/gmean_recall
    rec = upgrade(record.read(tmp_path / "r" / "metrics.json"))
    recalls = [KNOWN["original"][1][0]] + [0.98] * 9
    assert rec["metrics"]["test/gmean_recall"] == pytest.approx(float(np.prod(recalls)) ** 0.1)
    row = to_row(rec, tmp_path / "r", "r", [0])
    assert row["test/gmean_recall"] == rec["metrics"]["test/gmean_recall"]
    assert row["probe/signature_auc"] is None  # nothing was added in this run
    for bad in ([1.0, "x"], [1.0, [2]], 5):  # a stranger's record: a failed run, not a crash
        with pytest.raises(record.RecordError, match="test/recall is not a list of numbers"):
            upgrade({"kind": "classify", "metrics": {"test/recall": bad}})


def test_a_current_run_keeps_its_gan_record_of_an_older_version_upgraded() -> None:
    current = _classify_record()
    old_gan = {k: v for k, v in current["gan_run"]["metrics"].items()}
    for key in ("schema_version", "selection_unit", "eval/n_pr", "best_step"):
        del old_gan[key]
    current["gan_run"]["metrics"] = old_gan  # a cached GAN trained before versions
    gan = upgrade(current)["gan_run"]["metrics"]
    assert gan["schema_version"] == record.SCHEMA_VERSION and gan["best_step"] is None
    assert gan["selection_unit"] == "epoch" and gan["eval/n_pr"] == 0.5
    assert math.isclose(gan["eval/fd_test"], 0.5)


def test_a_version_1_record_reads_whether_its_generator_could_be_judged_as_not_recorded() -> None:
    current = _classify_record()
    v1 = {k: v for k, v in current.items() if k != "signature_warn_above"}
    gan = {
        k: v
        for k, v in current["gan_run"]["metrics"].items()
        if k not in (*record.GAN_JUDGE, "cannot_judge", "cannot_judge_reason")
    }
    v1.update(
        schema_version=1, gan_run={**current["gan_run"], "metrics": {**gan, "schema_version": 1}}
    )
    got = upgrade(v1)
    assert got["schema_version"] == record.SCHEMA_VERSION and got["signature_warn_above"] is None
    upgraded = got["gan_run"]["metrics"]
    assert upgraded["schema_version"] == record.SCHEMA_VERSION and upgraded["cannot_judge"] is None
    assert all(upgraded[key] is None for key in record.GAN_JUDGE)
    assert upgraded["collapsed"] is False  # what version 1 recorded is kept as it was


def test_a_record_of_a_newer_version_is_refused_and_listed_as_a_failed_run(
    tmp_path: Path,
) -> None:
    newer = {**_classify_record(), "scenario": "smote", "schema_version": record.SCHEMA_VERSION + 1}
    with pytest.raises(record.RecordError, match="newer than this code reads"):
        upgrade(newer)
    root = make_study(tmp_path, seeds=(0,))
    (root / "future").mkdir()
    (root / "future" / "metrics.json").write_text(json.dumps(newer))
    rows, failures, _ = collect_runs(root)
    (failure,) = failures
    assert len(rows) == 3 and (failure["scenario"], failure["run_dir"]) == ("smote", "future")
    assert failure["error"].startswith("future: unreadable metrics.json: record of schema_version")


def test_a_record_of_another_kind_is_returned_as_it_is() -> None:
    assert upgrade({"kind": "other", "x": 1}) == {"kind": "other", "x": 1}
