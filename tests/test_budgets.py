"""Budgets that follow the data, and what they cost: the quick profile trains small data as many
optimiser steps as MNIST (and MNIST exactly as before), a generator's epochs run over the images
it learns, and the estimates come from the one table in runtime/costs.py."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from imbalance_gan.classifier.pipeline import classifier_epochs, classify
from imbalance_gan.data import IDXSource
from imbalance_gan.generators.budget import generator_work
from imbalance_gan.runtime import costs

from .conftest import DATA, make_cfg


def test_the_quick_floor_leaves_mnist_at_two_epochs_and_gives_small_data_its_steps(tmp_path):
    quick = make_cfg("classify", ["experiment=quick"], tmp_path / "run").classifier
    # the training parts of the committed quick studies: MNIST 30 / 300 zeros, Fashion 30 / 300
    for n in (48_697, 48_940, 48_627, 48_870):
        assert classifier_epochs(quick, n) == 2
    for n in (918, 2_754, 10_000, 30_000):
        per_epoch = math.ceil(n / quick.batch_size)
        assert classifier_epochs(quick, n) * per_epoch >= quick.min_steps == 380
        assert (classifier_epochs(quick, n) - 1) * per_epoch < 380  # no epoch more than needed
    paper = make_cfg("classify", [], tmp_path / "paper").classifier
    assert paper.min_steps is None and classifier_epochs(paper, 918) == 20


@pytest.fixture(scope="module")
def small_arrays(tmp_path_factory) -> Path:
    """``train.npz`` / ``test.npz``: 300 + 300 + 30 real MNIST 1s, 2s and 0s (3 steps of 256 an
    epoch after the validation part), 50 of each to test."""
    root = tmp_path_factory.mktemp("small_arrays")
    src = IDXSource("mnist", str(DATA))
    for name, train, per in (("train", True, (300, 300, 30)), ("test", False, (50, 50, 50))):
        x, y = src.load(train)
        idx = torch.cat(
            [(y == d).nonzero().flatten()[:n] for d, n in zip((1, 2, 0), per, strict=True)]
        )
        labels = torch.cat([torch.full((n,), k) for k, n in enumerate(per)])
        np.savez(root / f"{name}.npz", images=x[idx].numpy(), labels=labels.numpy())
    return root


def test_quick_on_small_data_trains_at_least_its_floor_of_optimiser_steps(small_arrays, tmp_path):
    """2 epochs would be 6 steps; a floor of 10 trains 4 epochs, 12 steps, and says so."""
    out = tmp_path / "run"
    data = ["data=arrays", f"data.root={small_arrays}", "data.num_classes=3"]
    cfg = make_cfg("classify", [*data, "experiment=quick", "classifier.min_steps=10"], out)
    run = classify(cfg)
    assert sum(run["train_counts"]["total"]) == 567  # 630 less the 10% validation part
    steps = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert run["epochs"] == 4 and steps == 12 >= cfg.classifier.min_steps


def test_a_generator_trains_its_epochs_over_the_images_it_learns(tmp_path):
    """An unconditional GAN learns the rare class alone (the paper's dcgan: 240 epochs of 9
    batches of 270 zeros), a class-conditional one every class; a budget in steps is itself."""
    labels = torch.cat([torch.zeros(270, dtype=torch.long), torch.arange(1, 10).repeat(5_000)])
    split = SimpleNamespace(train_y=labels, num_classes=10, minority=(0,), image_shape=(1, 28, 28))
    dcgan = make_cfg("classify", ["gan=dcgan"], tmp_path / "a")
    assert generator_work(dcgan, split) == (2_160, 60 * 500 + 6_000)  # scored every 4 epochs
    cgan = make_cfg("classify", ["gan=cgan"], tmp_path / "b")
    assert generator_work(cgan, split)[0] == 100 * math.ceil(45_270 / 32)
    projgan = make_cfg("classify", ["gan=projgan", "experiment=quick"], tmp_path / "c")
    assert generator_work(projgan, split) == (4_000, 16 * 500 + 6_000)  # every 250 steps


def test_estimates_come_from_the_measured_table():
    """Steps times the table's seconds, plus a run's fixed part, times the shared machine's
    factor; pixels scale it, a third channel does not (these nets barely notice it)."""
    step, fixed, shared = costs.CLASSIFIER_STEP_S, costs.CLASSIFIER_RUN_S, costs.SHARED_MACHINE
    assert costs.classifier_seconds(384) == pytest.approx(shared * (384 * step + fixed))
    assert costs.classifier_seconds(384, (3, 28, 28)) == costs.classifier_seconds(384)
    assert costs.classifier_seconds(384, (1, 56, 56)) > 3 * costs.classifier_seconds(384) - 1
    dcgan = costs.generator_cost("dcgan", "imbalance_gan.generators.gan.GANFamily")
    assert dcgan is costs.GENERATOR_COSTS["dcgan"]
    other = costs.generator_cost("mygan", "imbalance_gan.generators.diffusion.DiffusionFamily")
    assert other is costs.GENERATOR_COSTS["DiffusionFamily"]
    assert costs.generator_seconds(dcgan, 2_000, 0) == pytest.approx(
        shared * (2_000 * dcgan.step_s + costs.GENERATOR_RUN_S)
    )
    assert costs.minutes(30) == "under a minute" and costs.minutes(41 * 60) == "about 41 minutes"
