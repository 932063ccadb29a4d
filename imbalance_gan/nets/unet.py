"""The diffusion model's noise predictor: diffusers' ``UNet2DModel``, class-conditional with one
extra label (the null label of classifier-free guidance), on images of any size (padded to what
its down-sampling needs, the prediction cropped back)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from imbalance_gan.runtime.errors import UserError


class UNet(nn.Module):
    """ε-prediction net: (x_t ``[N, C, H, W]``, t ``[N]``, labels ``[N]``) -> ``[N, C, H, W]``.

    ``channels`` are the widths of the U-Net's levels (each but the last halves the image);
    ``attention`` says which levels have self-attention (none by default, nor in the middle
    block: on a 2-core CPU it costs more than it gives at 28 x 28). Label ``num_classes`` is the null label."""

    #: trained on every class, conditioned on labels (generators/family.py)
    conditional = True

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        img_size: int | Sequence[int] = 28,
        channels: Sequence[int] = (32, 64, 64),
        layers_per_block: int = 1,
        attention: Sequence[bool] | None = None,
        norm_groups: int = 8,
    ) -> None:
        super().__init__()
        from diffusers import UNet2DModel

        channels = [int(c) for c in channels]
        attention = [bool(a) for a in (attention or [False] * len(channels))]
        if len(attention) != len(channels):
            raise UserError(
                f"gan.net.attention has {len(attention)} entries for {len(channels)} levels"
            )
        if any(c % norm_groups for c in channels):
            raise UserError(
                f"gan.net.channels={channels} must be multiples of norm_groups={norm_groups}"
            )
        height, width = (img_size, img_size) if isinstance(img_size, int) else map(int, img_size)
        step = 2 ** (len(channels) - 1)
        self.size = (height, width)
        self.image_shape = (int(in_channels), height, width)
        self.padded = (-(-height // step) * step, -(-width // step) * step)
        self.num_classes, self.null_label = int(num_classes), int(num_classes)
        down = ["AttnDownBlock2D" if a else "DownBlock2D" for a in attention]
        self.unet = UNet2DModel(
            sample_size=self.padded,
            in_channels=in_channels,
            out_channels=in_channels,
            layers_per_block=layers_per_block,
            block_out_channels=channels,
            down_block_types=down,
            up_block_types=[b.replace("Down", "Up") for b in reversed(down)],
            num_class_embeds=self.num_classes + 1,
            norm_num_groups=norm_groups,
            add_attention=any(attention),  # the middle block's too: none unless a level has it
        )

    def forward(self, x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        h, w = self.size
        ph, pw = self.padded[0] - h, self.padded[1] - w
        if ph or pw:  # pad with -1 (the background) on the bottom and right
            x = F.pad(x, (0, pw, 0, ph), value=-1.0)
        out = self.unet(x, t, class_labels=labels).sample
        return out[..., :h, :w]
