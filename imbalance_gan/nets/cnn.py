"""The study's digit classifier, also used as the feature space for generator metrics."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class CNN(nn.Module):
    """Three Conv3x3-ReLU-MaxPool blocks and an MLP head: image [N, C, 28, 28] -> logits."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        channels: Sequence[int] = (32, 64, 128),
        hidden: int = 256,
        dropout: float = 0.5,
        img_size: int = 28,
    ):
        super().__init__()
        blocks: list[nn.Module] = []
        c_in, side = in_channels, img_size
        for c_out in channels:
            blocks += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            c_in, side = c_out, side // 2  # MaxPool floors: 28 -> 14 -> 7 -> 3
        self.conv = nn.Sequential(*blocks)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, hidden), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Hidden activations after the ReLU, before dropout: [N, hidden]."""
        return self.fc(self.conv(x))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits [N, num_classes]."""
        return self.head(self.dropout(self.features(x)))
