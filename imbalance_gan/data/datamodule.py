"""Each model's own thin LightningDataModule: a training set read under a batch policy, and
the split's validation and test parts. Built from values (``data/split.py``), never changed by
anyone else."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from imbalance_gan.data.imbalance import whole
from imbalance_gan.data.loader import TensorLoader
from imbalance_gan.data.split import ImbalancedData, Split, build_split
from imbalance_gan.data.training import TrainingSet
from imbalance_gan.record.rundir import upgrade_config
from imbalance_gan.runtime.errors import UserError, raise_user_error


@dataclass(frozen=True)
class BatchPolicy:
    """How a model draws its training batches: ``batch_size``; ``classes``, the classes it
    sees (``None``: all); ``class_balanced``, each class drawn equally often; ``sampler``, a
    classifier's sampler ``(labels, num_classes, seed) -> EpochSampler`` that replaces the
    loader's own (see ``classifier/sampling.py``); ``eval_batch_size`` for validation and
    test. Under DDP each process takes its share of every epoch."""

    batch_size: int
    eval_batch_size: int = 1000
    classes: Sequence[int] | None = None
    class_balanced: bool = False
    sampler: Callable | None = None

    def __post_init__(self) -> None:
        if whole("batch_size", self.batch_size) < 1:
            raise UserError(f"batch_size={self.batch_size} must be at least 1")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))


class ModelData(pl.LightningDataModule):
    """One model's data: ``training`` (a :class:`TrainingSet`) in batches drawn by ``policy``,
    and ``split``'s validation and test parts. Its tensors live on the training device when
    the data config says ``on_device``; it holds nothing else that changes."""

    def __init__(self, split: Split, training: TrainingSet, policy: BatchPolicy) -> None:
        super().__init__()
        self.split = split
        self.training = training
        self.policy = policy
        self._device = torch.device("cpu")

    def setup(self, stage: str | None = None) -> None:
        trainer = getattr(self, "trainer", None)
        if self.split.data.on_device and trainer is not None:
            self._device = trainer.strategy.root_device

    def _loader(
        self, tensors: tuple[torch.Tensor, ...], batch_size: int, shuffle: bool, **kw
    ) -> TensorLoader:
        loader = TensorLoader(tensors, batch_size, shuffle=shuffle, seed=self.split.seed, **kw)
        return loader.to(self._device)

    def train_dataloader(self) -> TensorLoader:
        """Shuffled batches of the training set (the policy's classes only), class-balanced
        draws or the policy's sampler when it has them."""
        policy, num_classes = self.policy, self.split.num_classes
        tensors = self.training.tensors()
        y = tensors[1]
        if policy.classes is not None:
            mask = torch.isin(y, torch.tensor(policy.classes, dtype=y.dtype))
            tensors = tuple(t[mask] for t in tensors)
            y = tensors[1]
        weights = None
        if policy.class_balanced:
            counts = torch.bincount(y, minlength=num_classes).float()
            weights = (1.0 / counts.clamp_min(1))[y]
        loader = self._loader(tensors, policy.batch_size, shuffle=True, weights=weights)
        if policy.sampler is not None:
            loader.sampler = policy.sampler(y, num_classes, self.split.seed)
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.world_size > 1:
            loader.sampler.shard(trainer.global_rank, trainer.world_size)
        return loader

    def val_dataloader(self) -> TensorLoader:
        split = self.split
        return self._loader((split.val_x, split.val_y), self.policy.eval_batch_size, False)

    def test_dataloader(self) -> TensorLoader:
        split = self.split
        return self._loader((split.test_x, split.test_y), self.policy.eval_batch_size, False)


def build_data(cfg_data: DictConfig) -> ImbalancedData:
    """The :class:`ImbalancedData` (and its source) the ``data`` config names by
        ``_target_``, loading nothing (validates the settings). A config saved before ``data`` had
        a ``_target_`` means :class:`ImbalancedData`; classes it names by an older name are taken by
    their new ones (:func:`upgrade_config`)."""
    plain = upgrade_config(OmegaConf.to_container(cfg_data, resolve=True))
    plain.setdefault("_target_", f"{__package__}.{ImbalancedData.__name__}")
    try:
        return instantiate(OmegaConf.create(plain))
    except InstantiationException as err:  # a source inside the data, or the data itself
        raise_user_error(err)
        raise


def split_from_config(cfg_data: DictConfig) -> Split:
    """Build the data the ``data`` config names and load its split (validates it)."""
    return build_split(build_data(cfg_data))
