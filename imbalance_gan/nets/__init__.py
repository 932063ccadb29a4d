"""Plain nn.Modules: the GANs' generators and discriminators, and the digit classifier."""

from imbalance_gan.nets.cnn import CNN
from imbalance_gan.nets.gan import (
    CGANDiscriminator,
    CGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    VanillaDiscriminator,
    VanillaGenerator,
)

__all__ = [
    "CNN",
    "CGANDiscriminator",
    "CGANGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "VanillaDiscriminator",
    "VanillaGenerator",
]
