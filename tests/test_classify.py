"""``classify``: every scenario runs end to end and writes what it promises; bad input is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imbalance_gan.classifier.pipeline import classify
from imbalance_gan.record import SCHEMA_VERSION, schema_version

from .conftest import make_cfg, run_module

# affine tops up like elastic (tests/test_scenarios.py checks its warps)
NON_GAN = ["original", "oversample", "weighted", "elastic", "smote", "full"]
METRIC_KEYS = {
    "test/accuracy",
    "test/f1_macro",
    "test/auroc_macro",
    "test/balanced_accuracy",
    "test/gmean_recall",
    "test/precision",
    "test/recall",
    "test/f1",
    "test/confusion_matrix",
}


@pytest.mark.parametrize("scenario", NON_GAN)
def test_scenario_writes_metrics_and_predictions(scenario, tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg("classify", [f"scenario={scenario}", "experiment=smoke"], out)
    classify(cfg)
    m = json.loads((out / "metrics.json").read_text())
    assert m["scenario"] == scenario and m["seed"] == 0
    assert schema_version(m) == SCHEMA_VERSION  # readers tell the record's shape from it
    assert METRIC_KEYS <= set(m["metrics"])
    for key in ("test/precision", "test/recall", "test/f1"):
        assert len(m["metrics"][key]) == 10
    assert np.array(m["metrics"]["test/confusion_matrix"]).sum() == 10_000
    assert 1 <= m["best_epoch"] <= m["epochs"]
    counts = m["train_counts"]
    assert [r + a for r, a in zip(counts["real"], counts["added"], strict=True)] == counts["total"]
    if scenario in ("oversample", "elastic", "smote"):
        # topped up to the smoke profile's target (6,000 in the others)
        assert counts["total"][0] == cfg.scenario.target_count == 334 and counts["real"][0] == 270
        assert counts["added"][1:] == [0] * 9
    elif scenario == "full":
        assert counts["real"][0] == 5331 and sum(counts["added"]) == 0  # 90% of 5,923
    else:
        assert counts["total"][0] == 270 and sum(counts["added"]) == 0
    assert (m["class_weights"] is not None) == (scenario == "weighted")
    pred = np.load(out / "predictions.npz")
    assert pred["y_true"].shape == (10_000,) and pred["y_prob"].shape == (10_000, 10)
    np.testing.assert_allclose(pred["y_prob"].sum(1), 1.0, atol=1e-4)
    assert (out / "checkpoints" / "best.ckpt").exists()
    assert any((out / "tb").glob("events.out.tfevents.*"))
    if scenario == "original":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(out / "tb"))  # one event directory per run
        events.Reload()
        tags = events.Tags()
        assert "test/confusion_matrix" in tags["images"]
        assert {f"test/pr_curve_c{k}" for k in range(10)} <= set(tags["tensors"])
        assert {"test/f1_macro", "val/f1_macro", "train/loss"} <= set(tags["scalars"])
        assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")


def test_same_seed_gives_identical_metrics(tmp_path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        classify(make_cfg("classify", ["experiment=smoke", "seed=3"], out))
        runs.append(json.loads((out / "metrics.json").read_text())["metrics"])
    assert runs[0] == runs[1]


# the other impossible settings (classes outside 0..9, val_fraction=1.5, a missing data.root, an
# unknown scenario, classifier.augment=affine, ...) are tests/test_bad_input.py's cases
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.minority_count=100000", "data.minority_count"),
        ("classifier/augment=cutout", "classifier/augment"),
    ],
)
def test_impossible_settings_exit_nonzero_with_one_clear_line(override, message, tmp_path):
    out = tmp_path / "run"
    proc = run_module(
        "imbalance_gan.classify",
        override,
        "experiment=smoke",
        f"hydra.run.dir={out}",
        "data.download=false",
    )
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "metrics.json").exists()


def test_recorded_validation_is_that_of_the_tested_checkpoint(tmp_path):
    from hydra.utils import instantiate

    from imbalance_gan.classifier.module import ClassifierModule
    from imbalance_gan.data import BatchPolicy, ModelData, TrainingSet, split_from_config
    from imbalance_gan.runtime.trainer import build_trainer

    out = tmp_path / "run"
    cfg = make_cfg("classify", ["experiment=smoke", "classifier.max_epochs=3"], out)
    run = classify(cfg)  # takes the best epoch's validation from the fit
    c = cfg.classifier
    model = ClassifierModule(net=instantiate(c.net), optimizer=instantiate(c.optimizer))
    split = split_from_config(cfg.data)
    policy = BatchPolicy(c.batch_size, c.eval_batch_size)
    dm = ModelData(split, TrainingSet.real(split), policy)
    trainer = build_trainer(cfg.trainer, tmp_path / "again", 1, [])
    best = str(out / "checkpoints" / "best.ckpt")
    trainer.validate(model, datamodule=dm, ckpt_path=best, verbose=False)
    assert model.val_metrics == run["val_metrics"]


def test_what_a_sweeper_gets_is_computed_without_the_test_set(tmp_path, monkeypatch):
    """``classify``'s return value, what a Hydra sweeper optimises, is the same number when the
    test labels are replaced by noise (the test metrics are not)."""
    import torch

    from imbalance_gan import classify as command
    from imbalance_gan.data.sources import IDXSource

    load = IDXSource.load

    def poisoned(self, train):
        images, labels = load(self, train)
        if train:
            return images, labels
        return images, labels[
            torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))
        ]

    returned, tested = [], []
    for poison in (False, True):
        if poison:
            monkeypatch.setattr(IDXSource, "load", poisoned)
        out = tmp_path / f"poisoned{poison}"
        returned.append(command.main(make_cfg("classify", ["experiment=smoke"], out)))
        tested.append(json.loads((out / "metrics.json").read_text())["metrics"]["test/f1_macro"])
    assert returned[0] == returned[1]
    assert tested[0] != tested[1]  # the poison reached the test set


def test_records_written_before_versions_are_version_0():
    """The committed studies' records carry no schema_version: they read as version 0."""
    from .conftest import ROOT

    (committed,) = list((ROOT / "results" / "quick").rglob("metrics.json"))[:1]
    record = json.loads(committed.read_text())
    assert "schema_version" not in record and schema_version(record) == 0
