"""Plain nn.Modules: the GANs' generators and discriminators (:mod:`.gan`), the diffusion model's
U-Net (:mod:`.unet`), and the classifiers (:mod:`.cnn`, :mod:`.resnet`)."""

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
