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
    ``logit_scale``: what the loss multiplies the net's outputs by before its softmax, so that
    validation and test score the distribution it trained (1 but for LDAM's ``s``).
    """

    logit_scale: float = 1.0

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


def class_prior(class_counts: Sequence[int] | None) -> torch.Tensor:
    """The training prior π_c = n_c / Σ n (a loss needs ``class_counts``)."""
    if not class_counts:
        raise ValueError("this loss needs the training class counts")
    counts = torch.tensor(list(class_counts), dtype=torch.float64)
    if (counts <= 0).any():
        raise ValueError(f"every class needs training images, got counts {list(class_counts)}")
    return (counts / counts.sum()).float()


def effective_number_weights(class_counts: Sequence[int], beta: float) -> torch.Tensor:
    """Class-balanced weights by effective number (Cui et al. 2019): w_c ∝ (1 − β) / (1 − β^n_c),
    normalised to sum to the number of classes; β = 0 gives equal weights, β → 1 inverse
    frequency."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta={beta} must be in [0, 1)")
    n = torch.tensor(list(class_counts), dtype=torch.float64)
    weights = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), n))
    return (weights / weights.sum() * len(n)).float()


class LogitAdjusted(Loss):
    """Logit-adjusted cross-entropy (Menon et al. 2021, eq. 10): the softmax of
    ``logits + τ·log π`` with π the training prior, so rare classes need larger logits to win
    during training and the plain logits are balanced at test. τ = 1 is Balanced Softmax (Ren et
    al. 2020); τ = 0 is plain cross-entropy. The prior is that of the images the classifier
    trains on, after the scenario's additions."""

    def __init__(
        self,
        tau: float = 1.0,
        class_counts: Sequence[int] | None = None,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(class_counts, class_weights)
        self.tau = float(tau)
        self.register_buffer("offset", self.tau * class_prior(class_counts).log(), persistent=False)

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, progress: float = 0.0
    ) -> torch.Tensor:
        return F.cross_entropy(logits + self.offset.to(logits), target, weight=self.class_weights)


class Focal(Loss):
    """Focal loss (Lin et al. 2017): −(1 − p_t)^γ log p_t, averaged over the batch; γ = 0 is
    cross-entropy. With ``beta`` the per-class weights are the effective-number ones (Cui et
    al. 2019, "CB focal"); else the scenario's class weights, if any."""

    def __init__(
        self,
        gamma: float = 2.0,
        beta: float | None = None,
        class_counts: Sequence[int] | None = None,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        if beta is not None:
            class_weights = effective_number_weights(class_counts or [], beta).tolist()
        super().__init__(class_counts, class_weights)
        self.gamma, self.beta = float(gamma), beta

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, progress: float = 0.0
    ) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1)
        # soft targets (mixup) weigh each class's term; hard ones pick the true class's
        soft = target.float() if target.dim() == 2 else F.one_hot(target, logits.shape[1]).float()
        if self.class_weights is not None:
            soft = soft * self.class_weights.to(soft)
        return (-soft * (1.0 - log_p.exp()) ** self.gamma * log_p).sum(dim=1).mean()


def ldam_margins(class_counts: Sequence[int], max_margin: float = 0.5) -> torch.Tensor:
    """LDAM's per-class margins (Cao et al. 2019): Δ_c ∝ n_c^(−1/4), scaled so the largest (that
    of the rarest class) is ``max_margin``."""
    raw = torch.tensor(list(class_counts), dtype=torch.float64).pow(-0.25)
    return (raw * (max_margin / raw.max())).float()


class LDAM(Loss):
    """Label-distribution-aware margin loss with deferred re-weighting (Cao et al. 2019):
    cross-entropy of ``s · (z − Δ_y e_y)``, z the cosine logits of a normalised head
    (``classifier.net.head=cosine``), Δ from :func:`ldam_margins`. DRW: unweighted until
    ``drw_start`` of the epoch budget is done (0.8: epoch 160 of the paper's 200), then weighted
    by the effective number with ``beta`` (0.9999), so short profiles keep the switch."""

    def __init__(
        self,
        max_margin: float = 0.5,
        scale: float = 30.0,
        drw_start: float = 0.8,
        beta: float = 0.9999,
        class_counts: Sequence[int] | None = None,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(class_counts, class_weights)
        if not 0.0 <= drw_start <= 1.0:
            raise ValueError(f"drw_start={drw_start} must be a share of the budget, in [0, 1]")
        self.scale, self.drw_start = float(scale), float(drw_start)
        self.logit_scale = self.scale  # the softmax it trains is that of s · cos
        self.register_buffer(
            "margins", ldam_margins(class_counts or [], max_margin), persistent=False
        )
        drw = effective_number_weights(class_counts or [], beta)
        self.register_buffer("drw_weights", drw, persistent=False)

    def weights_at(self, progress: float) -> torch.Tensor | None:
        """The class weights at this share of the budget (None before the DRW switch)."""
        return self.drw_weights if progress >= self.drw_start else None

    def forward(
        self, logits: torch.Tensor, target: torch.Tensor, progress: float = 0.0
    ) -> torch.Tensor:
        if target.dim() != 1:
            raise ValueError("LDAM needs hard labels (it cannot follow mixup's soft targets)")
        shifted = logits - F.one_hot(target, logits.shape[1]).to(logits) * self.margins.to(logits)
        weights = self.weights_at(progress)
        return F.cross_entropy(
            self.scale * shifted, target, weight=None if weights is None else weights.to(logits)
        )
