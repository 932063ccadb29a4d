"""What is done to the trained classifier's logits before the softmax at validation and test,
built from ``classifier.logit_adjustment`` (a ``_target_`` config in
``conf/classifier/logit_adjustment/``). Training never sees it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class LogitAdjustment(nn.Module):
    """A post-training change of the logits; built with the training class counts."""

    def __init__(self, class_counts: Sequence[int] | None = None) -> None:
        super().__init__()
        self.class_counts = None if class_counts is None else [int(n) for n in class_counts]

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Identity(LogitAdjustment):
    """The logits as trained (the default)."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits


class Posthoc(LogitAdjustment):
    """Post-hoc logit adjustment (Menon et al. 2021, eq. 8): ``logits − τ·log π``, π the
    training prior; τ = 0 leaves the logits as they are."""

    def __init__(self, tau: float = 1.0, class_counts: Sequence[int] | None = None) -> None:
        super().__init__(class_counts)
        from imbalance_gan.classifier.losses import class_prior

        self.tau = float(tau)
        self.register_buffer("offset", self.tau * class_prior(class_counts).log(), persistent=False)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits - self.offset.to(logits)
