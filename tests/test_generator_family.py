"""A generator family is one module plus one config: a family the package has never seen,
defined here, trains, is selected, samples and feeds a scenario through the shared pipeline."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, open_dict
from torch import nn

from imbalance_gan.classifier.pipeline import classify
from imbalance_gan.generators.family import GeneratorModule, is_conditional
from imbalance_gan.generators.pipeline import train_generator

from .conftest import make_cfg


class ClassMeans(pl.LightningModule):
    """The simplest generator: one learned image per class, plus fixed-scale noise."""

    conditional = True

    def __init__(self, num_classes: int, shape: Sequence[int]) -> None:
        super().__init__()
        self.means = nn.Parameter(torch.zeros(num_classes, *shape))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return ((self.means[y] - x) ** 2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)

    def sample(self, n, classes=None, seed=None):
        classes = list(classes if classes is not None else [0])
        g = torch.Generator().manual_seed(0 if seed is None else seed)
        labels = torch.tensor(classes).repeat(n // len(classes) + 1)[:n]
        noise = 0.1 * torch.randn(n, *self.means.shape[1:], generator=g)
        with torch.no_grad():
            return (self.means[labels].cpu() + noise).clamp(-1, 1)


class ClassMeansFamily:
    @staticmethod
    def check(cfg: DictConfig) -> None:
        pass

    @staticmethod
    def is_conditional(cfg_gen: DictConfig) -> bool:
        return True

    @staticmethod
    def build(cfg: DictConfig, minority: list[int]) -> ClassMeans:
        return ClassMeans(int(cfg.data.num_classes), list(cfg.data.image_shape))


FAMILY = f"{__name__}.ClassMeansFamily"


def _with_family(cfg: DictConfig) -> DictConfig:
    with open_dict(cfg):  # what its own conf/gan/<name>.yaml would say
        cfg.gan.name, cfg.gan.family = "class_means", FAMILY
    return cfg


def test_a_new_family_trains_samples_and_feeds_a_scenario(tmp_path):
    cfg = _with_family(make_cfg("train", ["experiment=smoke"], tmp_path / "train"))
    assert is_conditional(cfg.gan) and isinstance(ClassMeans(10, [1, 28, 28]), GeneratorModule)
    run = train_generator(cfg, tmp_path / "train")
    assert run["gan"] == "class_means" and run["best_epoch"] >= 1
    syn = torch.load(tmp_path / "train" / "synthetic.pt", weights_only=True)
    assert syn["images"].shape == (400, 1, 28, 28) and syn["labels"].tolist() == [0] * 400
    # a generative scenario with it, through the cache, untouched by the family's novelty
    out = tmp_path / "classify"
    overrides = ["scenario=projgan", "experiment=smoke", "scenario.synthetic_weight=0.5"]
    record = classify(_with_family(make_cfg("classify", overrides, out)))
    assert record["gan_run"]["gan"] == "class_means"
    assert record["synthetic_weight"] == 0.5  # generated images weighed half (issue 27)
    assert record["train_counts"]["added"][0] == 334 - record["train_counts"]["real"][0]
    assert json.loads((out / "metrics.json").read_text())["scenario"] == "projgan"
