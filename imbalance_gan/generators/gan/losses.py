"""GAN losses as pure functions of discriminator logits, chosen by name.

``LOSSES`` maps a name to a :class:`GANLoss` (a discriminator and a generator loss). The
gradient penalty is *not* part of any entry: it needs the discriminator and the images, not
just logits, so the caller adds ``weight * gradient_penalty(D, real, fake, labels)`` to the
discriminator loss itself. ``"bce_gp"`` is named for the study's recipe (BCE plus that penalty);
the entry computes only the BCE part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def bce_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Study's D loss: mean of BCE(real, 1) and BCE(fake, 0), on logits."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return (real + fake) / 2


def bce_g(fake_logits: Tensor) -> Tensor:
    """Non-saturating G loss: BCE(fake, 1), on logits."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def hinge_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge D loss: mean(relu(1 - real)) + mean(relu(1 + fake))."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g(fake_logits: Tensor) -> Tensor:
    """Hinge G loss: -mean(fake)."""
    return -fake_logits.mean()


@dataclass(frozen=True)
class GANLoss:
    """A pair of losses: ``d(real_logits, fake_logits)`` and ``g(fake_logits)``, scalars."""

    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[[Tensor], Tensor]


LOSSES: dict[str, GANLoss] = {
    "bce_gp": GANLoss(d=bce_d, g=bce_g),
    "hinge": GANLoss(d=hinge_d, g=hinge_g),
}


#: what the gradient penalty differentiates: the logit or the Sigmoid probability
GP_TARGETS = ("logit", "prob")


def get_loss(name: str) -> GANLoss:
    """Look up a loss by name; ValueError lists the known names."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of {sorted(LOSSES)}") from None


def gradient_penalty(
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor,
    labels: Tensor | None = None,
    generator: torch.Generator | None = None,
    on: str = "logit",
) -> Tensor:
    """WGAN-GP term mean((||grad_x D(x_hat)||_2 - 1)^2) on random real/fake interpolates: scalar.

    ``on`` says what ``D(x_hat)`` is: ``"logit"`` (the discriminator's raw output) or
    ``"prob"`` (its Sigmoid, the study's choice: its discriminators end in a Sigmoid and the
    penalty differentiates that probability, a much stronger constraint near 0 and 1).

    ``x_hat = a * real + (1 - a) * fake`` with one ``a ~ U(0, 1)`` per sample; ``labels`` are
    passed to the discriminator (conditional D scores the interpolate as the real sample's
    class). The graph is kept (``create_graph=True``) so the penalty trains D's parameters.
    """
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    # fake is detached: the penalty shapes D, the generator must not receive its gradient.
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    if on not in GP_TARGETS:
        raise ValueError(f"unknown gradient-penalty target {on!r}; choose one of {GP_TARGETS}")
    out = discriminator(x_hat, labels)
    if on == "prob":
        out = torch.sigmoid(out)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    # The epsilon keeps the norm differentiable where the gradient vanishes.
    norm = torch.sqrt(grad.flatten(1).square().sum(dim=1) + 1e-12)
    return (norm - 1).square().mean()
