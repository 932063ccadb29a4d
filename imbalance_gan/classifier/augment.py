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


class RandomCropFlip:
    """The CIFAR standard (He et al. 2016): each image padded by ``padding`` pixels of ``fill``
    (-1: black, in the images' [-1, 1]), cropped back to its size at a random offset, and
    mirrored left-right with probability ``flip``."""

    def __init__(self, padding: int = 4, flip: float = 0.5, fill: float = -1.0) -> None:
        if padding < 0 or not 0 <= flip <= 1:
            raise ValueError(f"padding={padding} must be >= 0 and flip={flip} in [0, 1]")
        self.padding, self.flip, self.fill = int(padding), float(flip), float(fill)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Batch:
        return random_crop_flip(x, self.padding, self.flip, self.fill), y


def random_crop_flip(x: torch.Tensor, padding: int, flip: float, fill: float) -> torch.Tensor:
    """``x`` [N, C, H, W], each image shifted by a random crop of its ``padding``-padded copy
    (offsets uniform in [0, 2 * padding]) and mirrored left-right with probability ``flip``."""
    n, _, h, w = x.shape
    p = padding
    padded = torch.nn.functional.pad(x, (p, p, p, p), value=fill)
    dy = torch.randint(0, 2 * p + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * p + 1, (n,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    mirror = torch.rand(n, device=x.device) < flip
    cols = torch.where(mirror[:, None, None, None], cols.flip(-1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


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
