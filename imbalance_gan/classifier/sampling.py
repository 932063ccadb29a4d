"""Which training images make up each epoch's batches, built from ``classifier.sampler`` (a
``_target_`` config in ``conf/classifier/sampler/``) and handed to the classifier's data as
its batch policy's sampler (:class:`imbalance_gan.data.BatchPolicy`)."""

from __future__ import annotations

import torch

from imbalance_gan.data.loader import EpochSampler


class Shuffle:
    """Every training image once per epoch, in a fresh order that is a pure function of
    (seed, epoch) (the default)."""

    def __call__(self, labels: torch.Tensor, num_classes: int, seed: int) -> EpochSampler:
        """The sampler of a training part with these ``labels`` (one per image)."""
        return EpochSampler(len(labels), seed, shuffle=True)


class ClassPowered:
    """Batches drawn with replacement so that class c makes up a share ∝ n_c^q of each epoch
    (Kang et al. 2020): q = 0 is class-balanced sampling (every class equally often), q = 1/2
    square-root sampling, q = 1 the plain data. Each image of a class is equally likely; an
    epoch has as many draws as the training part has images."""

    def __init__(self, power: float = 0.0) -> None:
        if not 0.0 <= power <= 1.0:
            raise ValueError(f"power={power} must be in [0, 1]")
        self.power = float(power)

    def __call__(self, labels: torch.Tensor, num_classes: int, seed: int) -> EpochSampler:
        counts = torch.bincount(labels.long().cpu(), minlength=num_classes).double()
        share = torch.where(counts > 0, counts.pow(self.power), torch.zeros_like(counts))
        per_image = (share / counts.clamp_min(1))[labels.long().cpu()]
        return EpochSampler(len(labels), seed, shuffle=True, weights=per_image.float())
