"""GAN training, honest selection, synthetic data, the cache, and the GAN scenarios."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from omegaconf import OmegaConf, open_dict
from torch import nn

from imbalance_gan.classifier.pipeline import classify
from imbalance_gan.data import TensorLoader, split_from_config, to_unit_range
from imbalance_gan.generators import cache
from imbalance_gan.generators.callback import cycled_labels
from imbalance_gan.generators.gan.module import GANModule
from imbalance_gan.generators.pipeline import as_synthetic, train_generator
from imbalance_gan.generators.quality import cannot_judge_reasons, quality_floor_misses
from imbalance_gan.nets import DCGANDiscriminator, DCGANGenerator

from .conftest import bare_trainer, make_cfg


@pytest.mark.parametrize("gan", ["vanilla", "dcgan", "cgan", "projgan"])
def test_smoke_training_writes_every_artifact(gan, tmp_path, caplog):
    out = tmp_path / "run"
    cfg = make_cfg(
        "train", [f"gan={gan}", "experiment=smoke", "trainer.enable_progress_bar=true"], out
    )
    with caplog.at_level("INFO", logger="imbalance_gan.progress"):
        m = train_generator(cfg, out)
    # not on a terminal: progress as log lines over the whole budget, with an ETA, no bar
    progress = [r.getMessage() for r in caplog.records if r.name == "imbalance_gan.progress"]
    assert progress and progress[-1].startswith(f"generator {gan}: step 6/6 (100%)")
    assert all("ETA" in line and "\r" not in line for line in progress)
    assert (out / "checkpoints" / "best.ckpt").exists()
    assert (out / "checkpoints" / "last.ckpt").exists()
    assert (out / "samples.png").stat().st_size > 0
    syn = torch.load(out / "synthetic.pt", weights_only=True)
    assert syn["images"].dtype == torch.uint8 and syn["images"].shape == (400, 1, 28, 28)
    assert syn["labels"].dtype == torch.int64 and syn["labels"].tolist() == [0] * 400
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "best_epoch",
        "selection/fd_train",
        "eval/fd_train",
        "eval/fd_test",
        "eval/precision",
        "eval/recall",
        "eval/minority_share",
        "eval/real_minority_share",
        "copy/near_share",
        "copy/nn_ratio",
        "wall_time_s",
        "score_history",
    ):
        assert key in saved
    # the quality floor's rule, with its reason
    below = (
        saved["eval/recall"] < 0.3
        or saved["eval/minority_share"] < 0.95 * saved["eval/real_minority_share"]
    )
    assert saved["collapsed"] is below and bool(saved["collapse_reason"]) is below
    # whether those numbers can judge it at all: the feature network's recall on the validation
    # zeros, and the test zeros the quality is measured on (980 in MNIST's test set)
    assert saved["eval/n_held_out"] == 980 and 0 <= saved["selection/feature_val_recall"] <= 1
    unjudged = saved["selection/feature_val_recall"] < 0.25
    assert saved["cannot_judge"] is unjudged and bool(saved["cannot_judge_reason"]) is unjudged
    assert saved["selection/fd_real_halves"] >= 0  # the score's scale: real vs real
    # like for like: 270 training zeros and as many test zeros; precision/recall on 270 of each
    assert (saved["eval/n_real"], saved["eval/n_fake"], saved["eval/n_pr"]) == (270, 400, 270)
    assert saved == json.loads(json.dumps(m))
    assert 1 <= saved["best_epoch"] <= 2
    assert saved["real_minority_train"] == 270
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    # D's mean output on real and fake images, per epoch: an early sign of collapse
    assert {"train/d_real", "train/d_fake", "train/d_loss"} <= set(events.Tags()["scalars"])


def test_selection_uses_no_test_image(tmp_path):
    """Replace the test set by noise: the selection scores and the chosen epoch must not change.

    Each run has its own artifact dir, so the poisoned run trains its own feature network: one
    trained on test images would change the scores."""
    cfg = make_cfg("train", ["gan=dcgan", "experiment=smoke"], tmp_path / "clean" / "run")
    clean = train_generator(cfg, tmp_path / "clean" / "run")
    split = split_from_config(cfg.data)
    noise = torch.rand(split.test_x.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    split = replace(split, test_x=noise)
    cfg2 = make_cfg("train", ["gan=dcgan", "experiment=smoke"], tmp_path / "poisoned" / "run")
    assert cfg2.paths.artifact_dir != cfg.paths.artifact_dir
    poisoned = train_generator(cfg2, tmp_path / "poisoned" / "run", split)
    assert (tmp_path / "poisoned" / "artifacts" / "feature_nets").is_dir()
    assert poisoned["score_history"] == clean["score_history"]
    assert poisoned["best_epoch"] == clean["best_epoch"]
    assert poisoned["eval/fd_test"] != clean["eval/fd_test"]  # the test set did change
    # nor does the feature network's recall (on validation images) or the real-vs-real scale
    for key in ("selection/feature_val_recall", "selection/fd_real_halves"):
        assert poisoned[key] == clean[key]


def test_cache_reuses_finished_entry_and_ignores_unfinished(tmp_path):
    cfg = make_cfg("train", ["experiment=smoke"], tmp_path / "run")
    entry = cache.entry_dir(cfg)
    calls = []

    def build(tmp):
        calls.append(tmp)
        tmp.mkdir(parents=True)
        (tmp / "metrics.json").write_text("{}")

    entry.mkdir(parents=True)
    (entry / "synthetic.pt").write_bytes(b"half")  # an unfinished entry: no metrics.json
    assert cache.get_or_build(cfg, build) == entry
    assert len(calls) == 1 and cache.is_finished(entry)
    assert not (entry / "synthetic.pt").exists()
    cache.get_or_build(cfg, build)
    assert len(calls) == 1  # reused


def test_cache_key_follows_config_and_seed(tmp_path):
    base = make_cfg("train", ["experiment=smoke"], tmp_path / "a")
    same = make_cfg("train", ["experiment=smoke", "data.root=/elsewhere"], tmp_path / "b")
    other_seed = make_cfg("train", ["experiment=smoke", "seed=1"], tmp_path / "c")
    other_gan = make_cfg("train", ["experiment=smoke", "gan.optimizer_g.lr=0.001"], tmp_path / "d")
    assert cache.cache_key(base) == cache.cache_key(same)
    # the quality floor labels a finished GAN; it does not change how one is trained
    floor = make_cfg("train", ["experiment=smoke", "selection.recall_floor=0.9"], tmp_path / "e")
    assert cache.cache_key(base) == cache.cache_key(floor)
    # so do the settings that say when its numbers cannot judge it
    judge = ["selection.feature_recall_floor=0.9", "selection.min_held_out=5000"]
    judged = make_cfg("train", ["experiment=smoke", *judge], tmp_path / "f")
    assert cache.cache_key(base) == cache.cache_key(judged)
    assert cache.cache_key(base) != cache.cache_key(other_seed)
    assert cache.cache_key(base) != cache.cache_key(other_gan)


def test_gan_scenario_trains_on_real_plus_synthetic(tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg("classify", ["scenario=dcgan", "experiment=smoke"], out)
    m = classify(cfg)
    counts = m["train_counts"]
    assert counts["real"][0] == 270
    assert counts["added"] == [64] + [0] * 9
    assert counts["total"][0] == 270 + 64
    assert m["gan_run"]["gan"] == "dcgan"
    assert cache.is_finished(cache.entry_dir(cfg))
    # the smoke feature network (10 batches) recognises no validation zero: flagged, still used
    assert m["gan_run"]["metrics"]["cannot_judge"] is True and counts["added"][0] == 64
    # a second run with the same data/GAN/seed reuses the GAN instead of training it again,
    # and judges it against its own settings of when the numbers can judge it
    entry = cache.entry_dir(cfg)
    stamp = (entry / "metrics.json").stat().st_mtime_ns
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run2")
        cfg.selection.feature_recall_floor = 0.0
    again = classify(cfg)
    assert (entry / "metrics.json").stat().st_mtime_ns == stamp
    assert again["gan_run"]["metrics"]["cannot_judge"] is False


def test_quality_floor_names_each_miss():
    floor = OmegaConf.create({"recall_floor": 0.3, "minority_share_floor": 0.95})
    good = {"eval/recall": 0.5, "eval/minority_share": 0.99}
    assert quality_floor_misses(good, floor) == []
    (miss,) = quality_floor_misses({**good, "eval/recall": 0.1}, floor)
    assert "recall 0.100" in miss and "selection.recall_floor" in miss
    both = quality_floor_misses({"eval/recall": 0.0, "eval/minority_share": 0.5}, floor)
    assert len(both) == 2 and "selection.minority_share_floor" in both[1]
    # relative to real held-out images of the class when their share is recorded
    real = {"eval/recall": 0.5, "eval/real_minority_share": 0.9}
    assert quality_floor_misses({**real, "eval/minority_share": 0.86}, floor) == []
    (miss,) = quality_floor_misses({**real, "eval/minority_share": 0.85}, floor)
    assert "against 0.900 of held-out real images" in miss


def test_a_generator_the_numbers_cannot_judge_is_flagged_with_the_reason():
    floor = OmegaConf.create({"feature_recall_floor": 0.25, "min_held_out": 50})
    good = {"selection/feature_val_recall": 0.9, "eval/n_held_out": 980}
    assert cannot_judge_reasons(good, floor) == []
    # the user's folder: a network that recognised no real shirt, 20 test shirts
    blind, few = cannot_judge_reasons(
        {"selection/feature_val_recall": 0.0, "eval/n_held_out": 20}, floor
    )
    assert "recognises 0.000" in blind and "selection.feature_recall_floor=0.25" in blind
    assert "only 20 held-out images" in few and "selection.min_held_out=50" in few
    (none,) = cannot_judge_reasons({**good, "selection/feature_val_recall": None}, floor)
    assert "no validation image" in none
    # a record from before these were measured: not judged either way
    assert cannot_judge_reasons({"eval/recall": 0.5}, floor) is None


class _LabelPainter(nn.Module):
    """A 'generator' whose image is its label / 10 everywhere, to trace labels through."""

    conditional = True
    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, z, labels):
        return (labels.float() / 10).view(-1, 1, 1, 1).expand(-1, 1, 28, 28) + 0 * self.w


class _CountingAdam(torch.optim.Adam):
    steps = 0

    def step(self, closure=None):
        type(self).steps += 1
        return super().step(closure)


def _module(generator, d_warmup_epochs=1, d_every=1):
    d_opt = type("DCount", (_CountingAdam,), {"steps": 0})
    g_opt = type("GCount", (_CountingAdam,), {"steps": 0})
    module = GANModule(
        generator=generator,
        discriminator=DCGANDiscriminator(),
        optimizer_g=lambda p: g_opt(p, lr=1e-4),
        optimizer_d=lambda p: d_opt(p, lr=1e-4),
        d_warmup_epochs=d_warmup_epochs,
        d_every=d_every,
    )
    return module, g_opt, d_opt


def test_discriminator_steps_follow_the_warmup_and_every_rule(tmp_path):
    module, g_opt, d_opt = _module(DCGANGenerator(latent_dim=8), d_warmup_epochs=1, d_every=3)
    x = torch.rand(48, 1, 28, 28) * 2 - 1
    loader = TensorLoader((x, torch.zeros(48, dtype=torch.int64)), batch_size=8, shuffle=True)
    trainer = bare_trainer(tmp_path, max_epochs=3)
    trainer.fit(module, train_dataloaders=loader)
    # 6 batches an epoch: D on all 6 in the warm-up epoch, then on batches 0 and 3 of each
    assert d_opt.steps == 6 + 2 + 2
    assert g_opt.steps == 3 * 6


def test_conditional_samples_carry_the_label_they_were_generated_for():
    module, _, _ = _module(_LabelPainter())
    classes, per_class = [3, 7, 8], 5
    fake = module.sample(per_class * len(classes), classes, seed=0)
    images, labels = as_synthetic(fake, cycled_labels(classes, per_class * len(classes)))
    assert labels.tolist() == [3] * 5 + [7] * 5 + [8] * 5
    painted = to_unit_range(images).mean(dim=(1, 2, 3))  # back to label / 10
    assert torch.allclose(painted, labels.float() / 10, atol=0.01)
