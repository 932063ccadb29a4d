"""ResNet-32 for small images (He et al. 2016, section 4.2), the classifier of the CIFAR-LT
literature (LDAM-DRW, logit adjustment, Balanced Softmax): a 3x3 stem of 16 channels, three
stages of ``blocks`` basic blocks (16, 32, 64 channels; the last two halve the image), global
average pooling and a linear (or cosine) head. 6 * blocks + 2 layers: blocks=5 is ResNet-32."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from imbalance_gan.nets.cnn import CosineLinear
from imbalance_gan.runtime.errors import UserError


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 strided projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """image [N, in_channels, *img_size] -> logits; the same interface as the study's
    :class:`~imbalance_gan.nets.cnn.CNN` (``features``, ``head``), so every fix works on it."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        img_size: int | Sequence[int] = 32,
        blocks: int = 5,
        widths: Sequence[int] = (16, 32, 64),
        head: str = "linear",
    ) -> None:
        super().__init__()
        height, width = (img_size, img_size) if isinstance(img_size, int) else map(int, img_size)
        need = 2 ** (len(widths) - 1)
        if min(height, width) < need:
            raise UserError(
                f"ResNet halves the image {len(widths) - 1} times; data.image_shape has "
                f"{height} x {width} (each side must be at least {need})"
            )
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        c_in = widths[0]
        for stage, c_out in enumerate(widths):
            for b in range(int(blocks)):
                layers.append(BasicBlock(c_in, c_out, 2 if stage > 0 and b == 0 else 1))
                c_in = c_out
        self.stages = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        if head not in ("linear", "cosine"):
            raise UserError(f"classifier.net.head={head!r}: linear or cosine")
        self.head = (
            nn.Linear(c_in, num_classes) if head == "linear" else CosineLinear(c_in, num_classes)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.to(memory_format=torch.channels_last)

    def features(self, x: Tensor) -> Tensor:
        """The pooled last-stage activations: [N, widths[-1]]."""
        return self.pool(self.stages(self.stem(x.contiguous(memory_format=torch.channels_last))))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
