"""DiffAugment (Zhao et al. 2020): random, differentiable augmentation of every image the
discriminator sees, real and generated alike, so a discriminator trained on a few hundred
images cannot memorise them and the generator still gets a gradient through the augmentation.

Images are ``[N, C, H, W]`` in ``[-1, 1]`` with background ``-1``: translation pads with the
background and cutout fills with it (a grey fill would add a texture real digits never have).
Policies are chosen by a comma-separated string, e.g. ``"translation,cutout,color"``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

#: the value of an empty pixel
BACKGROUND = -1.0
#: the largest shift, as a share of the image side (28 px: +-3 px)
TRANSLATION_RATIO = 0.1
#: the side of the cut-out square, as a share of the image side (28 px: 10 x 10)
CUTOUT_RATIO = 0.36


def color(x: Tensor) -> Tensor:
    """Random brightness (shift in [-0.5, 0.5)) and contrast (factor in [0.5, 1.5)) per image,
    clipped back to [-1, 1] (real images never leave that range, so neither do their copies)."""
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean
    return x.clamp(-1.0, 1.0)


def translation(x: Tensor, ratio: float = TRANSLATION_RATIO) -> Tensor:
    """Shift each image by a random whole number of pixels (up to ``ratio`` of its side) in
    each direction; uncovered pixels take the background value."""
    n, _, h, w = x.shape
    sh, sw = max(1, round(h * ratio)), max(1, round(w * ratio))
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    batch, rows, cols = torch.meshgrid(
        torch.arange(n, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    # index into a copy padded by one background pixel; indices outside land on the padding
    rows = torch.clamp(rows + dy + 1, 0, h + 1)
    cols = torch.clamp(cols + dx + 1, 0, w + 1)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1], value=BACKGROUND)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = CUTOUT_RATIO) -> Tensor:
    """Fill one random square (``ratio`` of the side) of each image with the background."""
    n, _, h, w = x.shape
    ch, cw = max(1, round(h * ratio)), max(1, round(w * ratio))
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    batch, rows, cols = torch.meshgrid(
        torch.arange(n, device=x.device),
        torch.arange(ch, device=x.device),
        torch.arange(cw, device=x.device),
        indexing="ij",
    )
    rows = torch.clamp(rows + oy - ch // 2, 0, h - 1)
    cols = torch.clamp(cols + ox - cw // 2, 0, w - 1)
    keep = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    keep[batch, rows, cols] = 0
    keep = keep.unsqueeze(1)
    return x * keep + BACKGROUND * (1 - keep)


POLICIES: dict[str, Callable[[Tensor], Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def parse_policy(policy: str | None) -> list[str]:
    """The policy names in ``policy`` (``None`` or ``""``: none); ValueError names unknown ones."""
    names = [p.strip() for p in (policy or "").split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(
            f"unknown DiffAugment policy {unknown}; choose from {sorted(POLICIES)}, comma-separated"
        )
    return names


class DiffAugment:
    """Callable applying the policies of ``policy`` in the order given (identity for none)."""

    def __init__(self, policy: str | None):
        self.names = parse_policy(policy)

    def __bool__(self) -> bool:
        return bool(self.names)

    def __call__(self, x: Tensor) -> Tensor:
        for name in self.names:
            x = POLICIES[name](x)
        return x.contiguous()
