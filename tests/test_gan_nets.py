"""Shapes, ranges and label dependence of the GAN networks and the classifier."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from imbalance_gan.nets import (
    CNN,
    CGANDiscriminator,
    CGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    VanillaDiscriminator,
    VanillaGenerator,
)

N, LATENT = 6, 100
PAIRS = {
    "vanilla": (VanillaGenerator, VanillaDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "cgan": (CGANGenerator, CGANDiscriminator),
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_generator_makes_images_in_tanh_range(name: str) -> None:
    gen = PAIRS[name][0]()
    assert gen.latent_dim == LATENT
    assert gen.conditional == (name == "cgan")
    out = gen(torch.randn(N, LATENT), torch.randint(0, 10, (N,)))
    assert out.shape == (N, 1, 28, 28)
    assert out.min() >= -1 and out.max() <= 1


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_discriminator_returns_one_logit_per_image(name: str) -> None:
    disc = PAIRS[name][1]()
    assert disc.conditional == (name == "cgan")
    out = disc(torch.rand(N, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (N,)))
    assert out.shape == (N,)
    # Logits, not probabilities: the losses apply the sigmoid themselves.
    assert not any(isinstance(m, nn.Sigmoid) for m in disc.modules())


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_discriminator_scores_a_single_image_as_shape_one(name: str) -> None:
    disc = PAIRS[name][1]().eval()  # eval: BatchNorm cannot train on one sample
    assert disc(torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long)).shape == (1,)


def test_unconditional_nets_ignore_labels() -> None:
    gen, disc = DCGANGenerator().eval(), VanillaDiscriminator().eval()
    z, x = torch.randn(N, LATENT), torch.rand(N, 1, 28, 28)
    assert torch.equal(gen(z), gen(z, torch.ones(N, dtype=torch.long)))
    assert torch.equal(disc(x), disc(x, torch.ones(N, dtype=torch.long)))


def test_conditional_generator_output_depends_on_label() -> None:
    gen = CGANGenerator().eval()
    z = torch.randn(1, LATENT).expand(N, LATENT)
    out = gen(z, torch.arange(N))
    assert not torch.allclose(out[0], out[1])


def test_conditional_discriminator_output_depends_on_label() -> None:
    disc = CGANDiscriminator().eval()
    x = torch.rand(1, 1, 28, 28).expand(N, 1, 28, 28)
    out = disc(x, torch.arange(N))
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("cls", [CGANGenerator, CGANDiscriminator])
def test_conditional_nets_require_labels(cls: type) -> None:
    net = cls()
    inp = torch.randn(N, LATENT) if cls is CGANGenerator else torch.rand(N, 1, 28, 28)
    with pytest.raises(ValueError, match="labels"):
        net(inp)


def test_cnn_logits_and_features_shapes() -> None:
    cnn = CNN()
    x = torch.rand(N, 1, 28, 28) * 2 - 1
    assert cnn(x).shape == (N, 10)
    feats = cnn.features(x)
    assert feats.shape == (N, 256)
    assert feats.min() >= 0  # post-ReLU


def test_cnn_features_feed_the_head_in_eval_mode() -> None:
    cnn = CNN(num_classes=3, hidden=32).eval()
    x = torch.rand(N, 1, 28, 28)
    assert torch.allclose(cnn(x), cnn.head(cnn.features(x)))
