"""The classifier's training loss, built from ``classifier.loss`` (a ``_target_`` config in
``conf/classifier/loss/``).

A loss is built with the training split's class counts (and the scenario's class weights, if
any) and called on every training batch with the logits, the targets and the share of the
training budget done, so that a fix which needs the class prior or a switch at some point of
the budget is one more class here and one config file.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Loss(nn.Module):
    """A classifier loss.

    ``class_counts``: training images per class (after the scenario's additions; ``None`` when
    unknown). ``class_weights``: one weight per class (``scenario.class_weighting``), or ``None``.
    """

    def __init__(
        self,
        class_counts: Sequence[int] | None = None,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.class_counts = None if class_counts is None else [int(n) for n in class_counts]
        weights = torch.tensor(list(class_weights), dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, progress: float = 0.0
    ) -> torch.Tensor:
        """The batch's mean loss; ``progress`` is the share of the epoch budget done, in [0, 1)."""
        raise NotImplementedError


class CrossEntropy(Loss):
    """Cross-entropy, weighted per class by ``class_weights`` when given."""

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, progress: float = 0.0
    ) -> torch.Tensor:
        return F.cross_entropy(logits, target, weight=self.class_weights)
