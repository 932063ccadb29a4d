"""Which training images make up each epoch's batches, built from ``classifier.sampler`` (a
``_target_`` config in ``conf/classifier/sampler/``) and handed to the data module's training
loader (:attr:`ImbalancedDataModule.train_sampler`)."""

from __future__ import annotations

import torch

from imbalance_gan.data.loader import EpochSampler


class Shuffle:
    """Every training image once per epoch, in a fresh order that is a pure function of
    (seed, epoch) (the default)."""

    def __call__(self, labels: torch.Tensor, num_classes: int, seed: int) -> EpochSampler:
        """The sampler of a training part with these ``labels`` (one per image)."""
        return EpochSampler(len(labels), seed, shuffle=True)
