"""GAN losses against hand computations, and the gradient penalty's defining property."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from imbalance_gan.generators.gan.losses import LOSSES, get_loss, gradient_penalty
from imbalance_gan.nets import CGANDiscriminator

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 0.0, 1.5])


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_bce_matches_hand_computation() -> None:
    # BCE(x, 1) = softplus(-x), BCE(x, 0) = softplus(x)
    real = sum(_softplus(-v) for v in REAL.tolist()) / 3
    fake = sum(_softplus(v) for v in FAKE.tolist()) / 3
    assert get_loss("bce_gp").d(REAL, FAKE).item() == pytest.approx((real + fake) / 2, rel=1e-6)
    expected_g = sum(_softplus(-v) for v in FAKE.tolist()) / 3
    assert get_loss("bce_gp").g(FAKE).item() == pytest.approx(expected_g, rel=1e-6)


def test_hinge_matches_hand_computation() -> None:
    # relu(1 - [2, -1, .5]) = [0, 2, .5]; relu(1 + [-3, 0, 1.5]) = [0, 1, 2.5]
    assert get_loss("hinge").d(REAL, FAKE).item() == pytest.approx(2.5 / 3 + 3.5 / 3)
    assert get_loss("hinge").g(FAKE).item() == pytest.approx(0.5)  # -mean([-3, 0, 1.5])


def test_unknown_loss_name_lists_options() -> None:
    with pytest.raises(ValueError, match="bce_gp.*hinge"):
        get_loss("wasserstein")
    with pytest.raises(ValueError):
        get_loss("nope")
    assert get_loss("hinge") is LOSSES["hinge"]


class _Linear(nn.Module):
    """D(x) = scale * <w, x> with unit-norm w: gradient norm is exactly `scale` everywhere."""

    conditional = False

    def __init__(self, scale: float):
        super().__init__()
        w = torch.randn(28 * 28)
        self.w = nn.Parameter(scale * w / w.norm())

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return x.flatten(1) @ self.w


def test_gradient_penalty_vanishes_for_unit_gradient_norm() -> None:
    torch.manual_seed(0)
    real, fake = torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28)
    assert gradient_penalty(_Linear(1.0), real, fake).item() == pytest.approx(0.0, abs=1e-6)


def test_gradient_penalty_is_squared_excess_norm() -> None:
    torch.manual_seed(0)
    real, fake = torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28)
    # ||grad|| = 3 everywhere -> (3 - 1)^2 = 4
    assert gradient_penalty(_Linear(3.0), real, fake).item() == pytest.approx(4.0, rel=1e-5)


def test_gradient_penalty_trains_conditional_discriminator() -> None:
    torch.manual_seed(0)
    disc = CGANDiscriminator()
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    fake = (torch.rand(4, 1, 28, 28) * 2 - 1).requires_grad_(True)
    gp = gradient_penalty(disc, real, fake, torch.tensor([0, 1, 2, 3]))
    assert gp.item() > 0
    gp.backward()  # create_graph=True: the penalty reaches D's parameters
    assert disc.embed.weight.grad is not None and disc.embed.weight.grad.abs().sum() > 0
    assert fake.grad is None  # the generator never receives the penalty's gradient
