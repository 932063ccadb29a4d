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

    def choose(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Fit what the adjustment chooses to the validation split's raw ``logits`` (called at
        the end of every validation, before the adjusted logits are scored); nothing here."""


class Identity(LogitAdjustment):
    """The logits as trained (the default)."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits


class Posthoc(LogitAdjustment):
    """Post-hoc logit adjustment (Menon et al. 2021, eq. 8): ``logits − τ·log π``, π the
    training prior; τ = 0 leaves the logits as they are. With ``choose_from`` (a grid of τ) the
    τ is chosen at every validation: the one whose adjusted logits give the best balanced
    accuracy on the validation split (the first of the grid on a tie). The τ in use is part of
    the checkpoint, so testing a checkpoint uses the τ chosen with it."""

    def __init__(
        self,
        tau: float = 1.0,
        choose_from: Sequence[float] | None = None,
        class_counts: Sequence[int] | None = None,
    ) -> None:
        super().__init__(class_counts)
        from imbalance_gan.classifier.losses import class_prior

        self.register_buffer("log_prior", class_prior(class_counts).log(), persistent=False)
        self.register_buffer("tau", torch.tensor(float(tau)))
        self.choose_from = [float(t) for t in choose_from] if choose_from else None

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits - self.tau.to(logits) * self.log_prior.to(logits)

    def choose(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        if not self.choose_from:
            return
        c = logits.shape[1]
        present = torch.bincount(target, minlength=c) > 0

        def balanced_accuracy(tau: float) -> float:
            pred = (logits - tau * self.log_prior.to(logits)).argmax(1)
            hits = torch.bincount(target[pred == target], minlength=c).float()
            return float((hits / torch.bincount(target, minlength=c).clamp_min(1))[present].mean())

        scores = [balanced_accuracy(t) for t in self.choose_from]
        self.tau.fill_(self.choose_from[scores.index(max(scores))])
