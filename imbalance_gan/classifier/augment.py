"""On-the-fly augmentation of every training batch (never of validation or test images), built
from ``classifier.augment`` (a ``_target_`` config in ``conf/classifier/augment/``; null: none).

A batch augmentation maps (images, labels) to (images, labels), so one that mixes labels too
fits the same place. The warps draw their parameters afresh for every batch from the global RNG.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from imbalance_gan.scenarios.augment import random_affine, random_elastic

Batch = tuple[torch.Tensor, torch.Tensor]


class RandomAffine:
    """Each image rotated, shifted and scaled at random (:func:`random_affine`)."""

    def __init__(
        self, degrees: float = 15.0, translate: float = 0.1, scale: Sequence[float] = (0.9, 1.1)
    ) -> None:
        self.degrees, self.translate, self.scale = degrees, translate, tuple(scale)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Batch:
        return random_affine(x, self.degrees, self.translate, self.scale), y


class RandomElastic:
    """Each image elastically distorted (:func:`random_elastic`)."""

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0) -> None:
        self.alpha, self.sigma = alpha, sigma

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Batch:
        return random_elastic(x, self.alpha, self.sigma), y


class Mixup:
    """mixup (Zhang et al. 2018): each image mixed with another of the batch, λ ~ Beta(α, α)
    once per batch, the targets mixed alike as class probabilities (each row sums to one). The
    loss gets soft targets, so it must accept them (cross-entropy and logit-adjusted
    cross-entropy do)."""

    def __init__(self, alpha: float = 0.2, num_classes: int = 10) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha={alpha} must be positive")
        self.alpha, self.num_classes = float(alpha), int(num_classes)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Batch:
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        perm = torch.randperm(len(x), device=x.device)
        soft = torch.nn.functional.one_hot(y, self.num_classes).to(x.dtype)
        return lam * x + (1 - lam) * x[perm], lam * soft + (1 - lam) * soft[perm]
