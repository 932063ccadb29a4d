"""Scenarios: what each one adds to the classifier's training split (classic augmenters in
:mod:`augment`, GAN samples in :mod:`synthetic`), chosen by the ``scenario`` config."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig

from imbalance_gan.data import ImbalancedDataModule
from imbalance_gan.scenarios.augment import Augmentation, inverse_frequency_weights
from imbalance_gan.scenarios.synthetic import synthetic_for_scenario

__all__ = ["build_training_data", "inverse_frequency_weights"]


def build_training_data(cfg: DictConfig, dm: ImbalancedDataModule) -> dict | None:
    """Add the scenario's extra examples to ``dm``'s training part; return the GAN run's info."""
    gan_info = None
    if cfg.scenario.use_gan:
        images, labels, gan_info = synthetic_for_scenario(cfg, dm)
        dm.add_training_data(images, labels)
    if cfg.scenario.augment is not None:
        augment = instantiate(cfg.scenario.augment)
        aug: Augmentation = augment(dm.train_x, dm.train_y, dm.minority, dm.num_classes, cfg.seed)
        dm.add_training_data(aug.images, aug.labels)
    return gan_info
