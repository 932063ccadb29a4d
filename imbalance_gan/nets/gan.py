"""Generators and discriminators of the study: Vanilla GAN, DCGAN and Conditional GAN.

The architectures follow the original study (docs in ``shared/reference/original-study-facts.md``)
with one deliberate change: discriminators return raw logits of shape ``[N]`` instead of a
Sigmoid probability, so the losses can use ``binary_cross_entropy_with_logits`` (numerically
stable, and safe under mixed precision).

All generators share ``forward(z, labels=None)`` and all discriminators ``forward(x, labels=None)``
so that one LightningModule trains every variant; the unconditional ones ignore ``labels``.
Images are ``[N, C, H, W]`` in ``[-1, 1]``, the shape the configs take from ``data.image_shape``
(the study's: 1 x 28 x 28). Discriminators avoid in-place activations because the gradient
penalty differentiates through them twice (``create_graph=True``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from imbalance_gan.runtime.errors import UserError

# The DCGAN body upsamples twice by 2 (28 x 28: 7 -> 14 -> 28), so each side is a multiple of 4.
_DCGAN_CHANNELS = 128


def _side(img_size: int | Sequence[int]) -> tuple[int, int]:
    """``img_size`` as ``(H, W)``: one int is a square."""
    if isinstance(img_size, int):
        return img_size, img_size
    height, width = (int(v) for v in img_size)
    return height, width


def _check_sides(height: int, width: int, who: str, multiple: bool) -> None:
    """Refuse an image side the net cannot take (one line: it comes from data.image_shape):
    two stride-2 steps need 4 pixels, and a generator's two upsamplings a multiple of 4."""
    if min(height, width) < 4 or (multiple and (height % 4 or width % 4)):
        need = "multiples of 4" if multiple else "at least 4"
        raise UserError(f"{who} needs image sides {need}; data.image_shape has {height} x {width}")


def _require_labels(labels: Tensor | None, who: str) -> Tensor:
    """Return ``labels`` or fail loudly: a conditional net without labels is a wiring bug."""
    if labels is None:
        raise ValueError(f"{who} is conditional and needs `labels`")
    return labels


def _dcgan_generator_body(
    in_features: int, img_channels: int, img_size: int | Sequence[int], who: str
) -> nn.Sequential:
    """Linear -> 128 x H/4 x W/4 -> two stride-2 transposed convs -> Tanh image [N, C, H, W]."""
    height, width = _side(img_size)
    _check_sides(height, width, who, multiple=True)
    base = (height // 4, width // 4)
    return nn.Sequential(
        nn.Linear(in_features, _DCGAN_CHANNELS * base[0] * base[1]),
        nn.Unflatten(1, (_DCGAN_CHANNELS, *base)),
        # BatchNorm2d after the reshape normalises per feature map, as DCGAN intends.
        nn.BatchNorm2d(_DCGAN_CHANNELS),
        # The study has no activation here; a ReLU keeps the first conv's input non-linear.
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(_DCGAN_CHANNELS, 64, kernel_size=4, stride=2, padding=1),  # x2
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(64, img_channels, kernel_size=4, stride=2, padding=1),  # x2
        nn.Tanh(),
    )


class VanillaGenerator(nn.Module):
    """MLP generator: z [N, latent_dim] -> image [N, *img_shape] in [-1, 1]."""

    conditional = False

    def __init__(self, latent_dim: int = 100, img_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        self.latent_dim = latent_dim
        self.img_shape = tuple(img_shape)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 512),
            nn.BatchNorm1d(512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 1024),
            nn.BatchNorm1d(1024),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, math.prod(self.img_shape)),
            nn.Tanh(),
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Generate images [N, *img_shape]; ``labels`` is ignored."""
        return self.net(z).view(z.shape[0], *self.img_shape)


class VanillaDiscriminator(nn.Module):
    """MLP discriminator: image [N, *img_shape] -> logits [N]."""

    conditional = False

    def __init__(self, img_shape: tuple[int, int, int] = (1, 28, 28), dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        widths = [math.prod(img_shape), 1024, 512, 256]
        for w_in, w_out in pairwise(widths):
            layers += [nn.Linear(w_in, w_out), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
        layers.append(nn.Linear(widths[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Score images: logits [N]; ``labels`` is ignored."""
        return self.net(x).view(-1)


class DCGANGenerator(nn.Module):
    """Convolutional generator: z [N, latent_dim] -> image [N, img_channels, *img_size]."""

    conditional = False

    def __init__(
        self, latent_dim: int = 100, img_channels: int = 1, img_size: int | Sequence[int] = 28
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = _dcgan_generator_body(latent_dim, img_channels, img_size, "the DCGAN generator")

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Generate images [N, C, H, W]; ``labels`` is ignored."""
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """Spectral-norm convolutional discriminator: image [N, C, *img_size] -> logits [N]."""

    conditional = False

    def __init__(self, img_channels: int = 1, img_size: int | Sequence[int] = 28):
        super().__init__()
        height, width = _side(img_size)
        _check_sides(height, width, "the DCGAN discriminator", multiple=False)
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(img_channels, 64, kernel_size=4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(64, 128, kernel_size=4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            # two stride-2 convs leave an (H/4) x (W/4) map; one kernel covers it all
            spectral_norm(nn.Conv2d(128, 1, kernel_size=(height // 4, width // 4))),
        )

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Score images: logits [N]; ``labels`` is ignored."""
        return self.net(x).view(-1)


class CGANGenerator(nn.Module):
    """Conditional DCGAN generator: (z [N, latent_dim], labels [N]) -> image [N, C, H, W]."""

    conditional = True

    def __init__(
        self,
        latent_dim: int = 100,
        num_classes: int = 10,
        embed_dim: int = 100,
        img_channels: int = 1,
        img_size: int | Sequence[int] = 28,
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.net = _dcgan_generator_body(
            latent_dim + embed_dim, img_channels, img_size, "the conditional DCGAN generator"
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Generate images of the given classes (labels: int64 [N])."""
        labels = _require_labels(labels, type(self).__name__)
        return self.net(torch.cat([z, self.embed(labels)], dim=1))


class CGANDiscriminator(nn.Module):
    """Conditional discriminator: (image [N, C, H, W], labels [N]) -> logits [N]."""

    conditional = True

    def __init__(self, num_classes: int = 10, img_shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        channels, height, width = img_shape
        _check_sides(height, width, "the CGAN discriminator", multiple=False)
        self.num_classes = num_classes
        self.map_shape = (1, height, width)
        # The label becomes a learned H x W map stacked onto the image as an extra channel.
        self.embed = nn.Embedding(num_classes, height * width)
        self.net = nn.Sequential(
            nn.Conv2d(channels + 1, 64, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2),
            # Two stride-2 convs leave an (H/4) x (W/4) map; one kernel covers it all.
            nn.Conv2d(128, 1, kernel_size=(height // 4, width // 4)),
        )

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Score images given their claimed classes: logits [N]."""
        labels = _require_labels(labels, type(self).__name__)
        label_map = self.embed(labels).view(x.shape[0], *self.map_shape)
        return self.net(torch.cat([x, label_map], dim=1)).view(-1)


class ProjectionDiscriminator(nn.Module):
    """Class-conditional discriminator with a projection head (Miyato & Koyama 2018).

    Spectral norm on every layer: two stride-2 convs (64, 128) -> a 256-d feature ``h`` ->
    ``linear(h) + <embed(y), h>``, logits [N]. Conditioning by projection, instead of a label
    channel stacked onto the image, lets the classes share the convolutional features, so a
    rare class borrows stroke statistics from the common ones.
    """

    conditional = True

    def __init__(
        self,
        num_classes: int = 10,
        img_shape: tuple[int, int, int] = (1, 28, 28),
        channels: tuple[int, int] = (64, 128),
        hidden: int = 256,
    ):
        super().__init__()
        in_ch, height, width = img_shape
        _check_sides(height, width, "the projection discriminator", multiple=False)
        c1, c2 = channels
        self.num_classes = num_classes
        self.body = nn.Sequential(
            spectral_norm(nn.Conv2d(in_ch, c1, kernel_size=4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(c1, c2, kernel_size=4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            spectral_norm(nn.Linear(c2 * (height // 4) * (width // 4), hidden)),
            nn.LeakyReLU(0.2),
        )
        self.head = spectral_norm(nn.Linear(hidden, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, hidden))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Score images given their claimed classes: logits [N]."""
        labels = _require_labels(labels, type(self).__name__)
        h = self.body(x)
        return self.head(h).view(-1) + (self.embed(labels) * h).sum(dim=1)
