"""Decoupled classifier retraining, cRT (Kang et al. 2020, "Decoupling representation and
classifier for long-tailed recognition"), built from ``classifier.retrain`` (a ``_target_``
config in ``conf/classifier/retrain/``; null: none).

The network trains as usual (the classifier's sampler) for the first part of the epoch budget;
then its features are frozen, its head is re-initialised, and only the head trains, on
class-balanced batches, for the rest. The checkpoint tested is the best of the retraining
epochs, so the retrained head is what is measured."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from imbalance_gan.classifier.sampling import ClassPowered
from imbalance_gan.data.loader import EpochSampler
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.seeds import stream_seed

#: a sampler factory: (labels, num_classes, seed) -> EpochSampler (classifier/sampling.py)
SamplerFactory = Callable[[torch.Tensor, int, int], EpochSampler]


class Staged(EpochSampler):
    """``before``'s draws for the epochs before ``first`` (0-based), ``after``'s from it on;
    both are pure functions of (seed, epoch), so a resumed run draws what an uninterrupted one
    does."""

    def __init__(self, before: EpochSampler, after: EpochSampler, first: int) -> None:
        if before.n != after.n:
            raise ValueError("both stages must draw epochs of the same length")
        super().__init__(before.n, before.seed)
        self.before, self.after, self.first = before, after, int(first)

    def shard(self, rank: int, world_size: int) -> None:
        super().shard(rank, world_size)
        self.before.shard(rank, world_size)
        self.after.shard(rank, world_size)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.before.set_epoch(epoch)
        self.after.set_epoch(epoch)

    def indices(self) -> torch.Tensor:
        return (self.after if self.epoch >= self.first else self.before).indices()


class Retrain:
    """cRT: from ``start`` of the epoch budget on (a share; Kang et al. train 90 + 10 epochs,
    0.9), the features are frozen and a fresh head trains on batches drawn with class share
    ∝ n_c^``power`` (0: class-balanced, the paper's). Both stages keep at least one epoch."""

    def __init__(self, start: float = 0.9, power: float = 0.0) -> None:
        if not 0.0 < start < 1.0:
            raise UserError(f"classifier.retrain.start={start}: a share of the budget in (0, 1)")
        if not 0.0 <= power <= 1.0:
            raise UserError(f"classifier.retrain.power={power}: a class-share exponent in [0, 1]")
        self.start = float(start)
        self.balanced = ClassPowered(power)

    def first_epoch(self, max_epochs: int) -> int:
        """The 0-based epoch the retraining starts at."""
        if max_epochs < 2:
            raise UserError(
                f"classifier/retrain (cRT) trains the features, then the head: it needs "
                f"classifier.max_epochs >= 2, not {max_epochs}"
            )
        return min(max(round(self.start * max_epochs), 1), max_epochs - 1)

    def sampler(self, first: SamplerFactory, max_epochs: int) -> SamplerFactory:
        """The training sampler: ``first``'s draws, then class-balanced ones."""
        start = self.first_epoch(max_epochs)

        def staged(labels: torch.Tensor, num_classes: int, seed: int) -> EpochSampler:
            return Staged(
                first(labels, num_classes, seed), self.balanced(labels, num_classes, seed), start
            )

        return staged

    @staticmethod
    def freeze_features(net: nn.Module) -> None:
        """Every parameter outside ``net.head`` stops training (requires_grad is not part of a
        checkpoint, so this is done again at every retraining epoch's start)."""
        head = {id(p) for p in net.head.parameters()}
        for p in net.parameters():
            if id(p) not in head:
                p.requires_grad_(False)

    @staticmethod
    def reset_head(net: nn.Module, optimizer: torch.optim.Optimizer, seed: int) -> None:
        """A fresh head (its layer's own initialisation, drawn from the run's retrain stream)
        with fresh optimizer state, as if its training began now."""
        fresh = copy.deepcopy(net.head).cpu()  # drawn on the CPU, so every device gets one head
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(stream_seed(seed, "classifier.retrain_head"))
            fresh.reset_parameters()
        with torch.no_grad():
            for live, new in zip(net.head.parameters(), fresh.parameters(), strict=True):
                live.copy_(new)
        for p in net.head.parameters():
            optimizer.state.pop(p, None)
