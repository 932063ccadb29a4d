"""The study's digit classifier, also used as the feature space for generator metrics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from imbalance_gan.runtime.errors import UserError


class CNN(nn.Module):
    """Conv3x3-ReLU-MaxPool blocks (one per entry of ``channels``) and an MLP head:
    image [N, in_channels, *img_size] -> logits; ``img_size`` is H (a square) or (H, W)."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        channels: Sequence[int] = (32, 64, 128),
        hidden: int = 256,
        dropout: float = 0.5,
        img_size: int | Sequence[int] = 28,
    ):
        super().__init__()
        height, width = (img_size, img_size) if isinstance(img_size, int) else map(int, img_size)
        if min(height, width) < 2 ** len(channels):
            raise UserError(
                f"the CNN halves the image {len(channels)} times; data.image_shape has "
                f"{height} x {width} (each side must be at least {2 ** len(channels)})"
            )
        blocks: list[nn.Module] = []
        c_in = in_channels
        for c_out in channels:
            blocks += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            # MaxPool floors: 28 -> 14 -> 7 -> 3
            c_in, height, width = c_out, height // 2, width // 2
        self.conv = nn.Sequential(*blocks)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c_in * height * width, hidden), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)
        # NHWC convolutions and max-pools: on this 2-core CPU a training step takes 0.5x (the
        # feature net) to 0.8x (the study's CNN) the time of NCHW and inference 0.3-0.5x, with
        # the same outputs up to float rounding (issue 16). Inputs are converted in features().
        self.to(memory_format=torch.channels_last)

    def features(self, x: Tensor) -> Tensor:
        """Hidden activations after the ReLU, before dropout: [N, hidden]."""
        return self.fc(self.conv(x.contiguous(memory_format=torch.channels_last)))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits [N, num_classes]."""
        return self.head(self.dropout(self.features(x)))
