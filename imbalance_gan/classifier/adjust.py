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

    def attach(self, net: nn.Module) -> None:
        """Take what the adjustment reads from the network being evaluated (called before
        :meth:`choose` and the adjusted logits, at every validation and test); nothing here."""

    def chosen_tau(self) -> float | None:
        """The τ chosen on validation (for the run record); None when nothing is chosen."""
        return None

    def choose(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Fit what the adjustment chooses to the validation split's raw ``logits`` (called at
        the end of every validation, before the adjusted logits are scored); nothing here."""


class Identity(LogitAdjustment):
    """The logits as trained (the default)."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits


class Tuned(LogitAdjustment):
    """An adjustment with one knob τ (τ = 0: the logits as trained). With ``choose_from`` (a
    grid of τ) the τ is chosen at every validation: the one whose adjusted logits give the
    best balanced accuracy on the validation split (the first of the grid on a tie). The τ in
    use is part of the checkpoint, so testing a checkpoint uses the τ chosen with it."""

    def __init__(
        self,
        tau: float = 1.0,
        choose_from: Sequence[float] | None = None,
        class_counts: Sequence[int] | None = None,
    ) -> None:
        super().__init__(class_counts)
        self.register_buffer("tau", torch.tensor(float(tau)))
        self.choose_from = [float(t) for t in choose_from] if choose_from else None

    def adjust(self, logits: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return self.adjust(logits, self.tau.to(logits))

    def chosen_tau(self) -> float | None:
        return float(self.tau) if self.choose_from else None

    def choose(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        if not self.choose_from:
            return
        c = logits.shape[1]
        present = torch.bincount(target, minlength=c) > 0

        def balanced_accuracy(tau: float) -> float:
            pred = self.adjust(logits, tau).argmax(1)
            hits = torch.bincount(target[pred == target], minlength=c).float()
            return float((hits / torch.bincount(target, minlength=c).clamp_min(1))[present].mean())

        scores = [balanced_accuracy(t) for t in self.choose_from]
        self.tau.fill_(self.choose_from[scores.index(max(scores))])


class Posthoc(Tuned):
    """Post-hoc logit adjustment (Menon et al. 2021, eq. 8): ``logits − τ·log π``, π the
    training prior; τ = 0 leaves the logits as they are."""

    def __init__(
        self,
        tau: float = 1.0,
        choose_from: Sequence[float] | None = None,
        class_counts: Sequence[int] | None = None,
    ) -> None:
        super().__init__(tau, choose_from, class_counts)
        from imbalance_gan.classifier.losses import class_prior

        self.register_buffer("log_prior", class_prior(class_counts).log(), persistent=False)

    def adjust(self, logits: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
        return logits - tau * self.log_prior.to(logits)


class TauNorm(Tuned):
    """τ-normalisation of the classifier's head (Kang et al. 2020, eq. 3): class c's weight
    vector w_c is divided by ‖w_c‖^τ, so the classes the training data favoured (whose weights
    grew large) lose their edge; τ = 0 leaves the logits as they are. The head's bias is scaled
    with its weights (Kang et al. drop it, "for its negligible effect"), which keeps τ = 0 the
    model as trained. The norms are those of the head being evaluated (:meth:`attach`)."""

    def __init__(
        self,
        tau: float = 1.0,
        choose_from: Sequence[float] | None = None,
        class_counts: Sequence[int] | None = None,
    ) -> None:
        super().__init__(tau, choose_from, class_counts)
        self.norms: torch.Tensor | None = None

    def attach(self, net: nn.Module) -> None:
        head = getattr(net, "head", None)
        if not isinstance(head, nn.Linear):
            from imbalance_gan.runtime.errors import UserError

            raise UserError(
                "classifier/logit_adjustment=tau_norm divides each class's head weights by "
                f"their norm, so it needs a linear head (classifier.net.head=linear), not {head!r}"
            )
        self.norms = head.weight.detach().norm(dim=1)

    def adjust(self, logits: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
        if self.norms is None:
            raise RuntimeError("TauNorm.attach(net) must come before the logits are adjusted")
        return logits / self.norms.to(logits).pow(tau)
