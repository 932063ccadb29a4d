"""The study's digit classifier, also used as the feature space for generator metrics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from imbalance_gan.runtime.errors import UserError


class CosineLinear(nn.Module):
    """The cosine of the angle between each feature vector and each class's weight vector (both
    normalised), in [-1, 1]: the head LDAM's scale ``s`` assumes (Cao et al. 2019's NormedLinear)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.weight, -1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.normalize(x, dim=1) @ nn.functional.normalize(self.weight, dim=0)


class CNN(nn.Module):
    """Conv3x3-ReLU-MaxPool blocks (one per entry of ``channels``) and an MLP head:
    image [N, in_channels, *img_size] -> logits; ``img_size`` is H (a square) or (H, W).
    ``head``: ``linear`` (the study's) or ``cosine`` (:class:`CosineLinear`, for LDAM)."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        channels: Sequence[int] = (32, 64, 128),
        hidden: int = 256,
        dropout: float = 0.5,
        img_size: int | Sequence[int] = 28,
        head: str = "linear",
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
        if head not in ("linear", "cosine"):
            raise UserError(f"classifier.net.head={head!r}: linear or cosine")
        self.head = (
            nn.Linear(hidden, num_classes)
            if head == "linear"
            else CosineLinear(hidden, num_classes)
        )
        # NHWC convolutions and max-pools: on this 2-core CPU a training step takes 0.5x (the
        # feature net) to 0.8x (the study's CNN) the time of NCHW and inference 0.3-0.5x, with
        # the same outputs up to float rounding (benchmarks/end_to_end.py). Inputs are converted in features().
        self.to(memory_format=torch.channels_last)

    def features(self, x: Tensor) -> Tensor:
        """Hidden activations after the ReLU, before dropout: [N, hidden]."""
        return self.fc(self.conv(x.contiguous(memory_format=torch.channels_last)))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits [N, num_classes]."""
        return self.head(self.dropout(self.features(x)))
