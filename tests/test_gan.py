"""GAN training, honest selection, synthetic data, the cache, and the GAN scenarios."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import open_dict

from imbalance_gan.classifier.pipeline import classify
from imbalance_gan.data import datamodule_from_config
from imbalance_gan.gan import cache
from imbalance_gan.gan.pipeline import train_gan

from .conftest import make_cfg


@pytest.mark.parametrize("gan", ["vanilla", "dcgan", "cgan"])
def test_smoke_training_writes_every_artifact(gan, tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg("train", [f"gan={gan}", "experiment=smoke"], out)
    m = train_gan(cfg, out)
    assert (out / "checkpoints" / "best.ckpt").exists()
    assert (out / "checkpoints" / "last.ckpt").exists()
    assert (out / "samples.png").stat().st_size > 0
    syn = torch.load(out / "synthetic.pt", weights_only=True)
    assert syn["images"].dtype == torch.uint8 and syn["images"].shape == (64, 1, 28, 28)
    assert syn["labels"].dtype == torch.int64 and syn["labels"].tolist() == [0] * 64
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "best_epoch",
        "selection/fd_train",
        "eval/fd_test",
        "eval/precision",
        "eval/recall",
        "wall_time_s",
        "score_history",
    ):
        assert key in saved
    assert saved == json.loads(json.dumps(m))
    assert 1 <= saved["best_epoch"] <= 2
    assert saved["real_minority_train"] == 270


def test_selection_uses_no_test_image(tmp_path):
    """Replace the test set by noise: the selection scores and the chosen epoch must not change."""
    cfg = make_cfg("train", ["gan=dcgan", "experiment=smoke"], tmp_path / "clean")
    clean = train_gan(cfg, tmp_path / "clean")
    dm = datamodule_from_config(cfg.data, cfg.gan.batch_size)
    dm.test_x = torch.rand(dm.test_x.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cfg2 = make_cfg("train", ["gan=dcgan", "experiment=smoke"], tmp_path / "poisoned")
    poisoned = train_gan(cfg2, tmp_path / "poisoned", dm)
    assert poisoned["score_history"] == clean["score_history"]
    assert poisoned["best_epoch"] == clean["best_epoch"]
    assert poisoned["eval/fd_test"] != clean["eval/fd_test"]  # the test set did change


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
    # a second run with the same data/GAN/seed reuses the GAN instead of training it again
    entry = cache.entry_dir(cfg)
    stamp = (entry / "metrics.json").stat().st_mtime_ns
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run2")
    classify(cfg)
    assert (entry / "metrics.json").stat().st_mtime_ns == stamp
