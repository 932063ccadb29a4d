"""Classic augmenters: what extra (images, labels) a classic fix adds to the training split.

Each augmenter is a pure function of the real training part and a seed, selected by the
scenario config's ``augment._target_``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from imbalance_gan.data.imbalance import class_histogram
from imbalance_gan.runtime.seeds import stream_seed


@dataclass
class Augmentation:
    """Extra training examples (float images in [-1, 1]) and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    info: dict = field(default_factory=dict)


#: the count each minority class is topped up to: one for all, or one per class
Target = int | Mapping[int, int]


def _target_of(target: Target, c: int) -> int:
    return int(target[c]) if isinstance(target, Mapping) else int(target)


def _deficits(
    y: torch.Tensor, classes: Sequence[int], target: Target, num_classes: int
) -> dict[int, int]:
    counts = class_histogram(y, num_classes)
    return {c: max(0, _target_of(target, c) - counts[c]) for c in classes}


def _empty(x: torch.Tensor) -> Augmentation:
    return Augmentation(x[:0], torch.zeros(0, dtype=torch.int64))


def oversample(
    x: torch.Tensor,
    y: torch.Tensor,
    minority: Sequence[int],
    num_classes: int,
    seed: int,
    target_count: Target = 6000,
) -> Augmentation:
    """Repeat random real minority images until each minority class has ``target_count``."""
    g = torch.Generator().manual_seed(int(seed))
    xs, ys = [], []
    for c, need in _deficits(y, minority, target_count, num_classes).items():
        idx = torch.nonzero(y == c, as_tuple=True)[0]
        pick = idx[torch.randint(len(idx), (need,), generator=g)]
        xs.append(x[pick])
        ys.append(y[pick])
    return Augmentation(torch.cat(xs), torch.cat(ys)) if xs else _empty(x)


def random_affine(
    images: torch.Tensor,
    degrees: float = 15.0,
    translate: float = 0.1,
    scale: Sequence[float] = (0.9, 1.1),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each image rotated, shifted and scaled at random (parameters drawn on the CPU from
    ``generator``, the global RNG when ``None``); images stay on their device."""
    n = len(images)
    if n == 0:
        return images
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(degrees)
    s = torch.empty(n).uniform_(float(scale[0]), float(scale[1]), generator=generator)
    # affine_grid works in [-1, 1] coordinates, so a shift of `translate` of the width is 2*translate
    t = (torch.rand(n, 2, generator=generator) * 2 - 1) * 2 * translate
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack(
        [torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1
    )
    theta = theta.to(device=images.device, dtype=images.dtype)
    return _warp(images, F.affine_grid(theta, list(images.shape), align_corners=False))


def random_elastic(
    images: torch.Tensor,
    alpha: float = 34.0,
    sigma: float = 4.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each image elastically distorted (Simard et al. 2003): a random displacement field,
    uniform in [-1, 1] per pixel (drawn on the CPU from ``generator``), smoothed by a Gaussian
    of ``sigma`` pixels and scaled by ``alpha`` pixels."""
    n, _, h, w = images.shape
    if n == 0:
        return images
    field = (torch.rand(n, 2, h, w, generator=generator) * 2 - 1).to(images.device, images.dtype)
    radius = int(math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    # separable Gaussian blur of both displacement channels
    mode_w = "reflect" if radius < w else "replicate"
    mode_h = "reflect" if radius < h else "replicate"
    field = F.conv2d(
        F.pad(field, [radius, radius, 0, 0], mode=mode_w),
        kernel.view(1, 1, 1, -1).expand(2, 1, 1, -1).contiguous(),
        groups=2,
    )
    field = (
        F.conv2d(
            F.pad(field, [0, 0, radius, radius], mode=mode_h),
            kernel.view(1, 1, -1, 1).expand(2, 1, -1, 1).contiguous(),
            groups=2,
        )
        * alpha
    )
    # pixel displacements -> grid_sample's [-1, 1] coordinates (align_corners=False)
    eye = torch.eye(2, 3, dtype=images.dtype, device=images.device).expand(n, 2, 3)
    identity = F.affine_grid(eye, [n, 1, h, w], align_corners=False)
    offset = torch.stack([field[:, 0] * 2 / w, field[:, 1] * 2 / h], dim=-1)
    return _warp(images, identity + offset)


def _warp(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Resample images in [-1, 1] at ``grid`` (affine_grid coordinates); outside is background."""
    # background is -1 (black): sample from images shifted to 0-background, then shift back
    warped = F.grid_sample(images + 1, grid, align_corners=False, padding_mode="zeros") - 1
    return warped.clamp(-1, 1)


def affine(
    x: torch.Tensor,
    y: torch.Tensor,
    minority: Sequence[int],
    num_classes: int,
    seed: int,
    target_count: Target = 6000,
    degrees: float = 15.0,
    translate: float = 0.1,
    scale: Sequence[float] = (0.9, 1.1),
) -> Augmentation:
    """Top up with randomly rotated / shifted / scaled copies of real minority images (batched)."""
    base = oversample(x, y, minority, num_classes, seed, target_count)
    g = torch.Generator().manual_seed(stream_seed(seed, "augment.affine"))
    warped = random_affine(base.images, degrees, translate, scale, generator=g)
    return Augmentation(warped, base.labels, {"degrees": degrees, "translate": translate})


def elastic(
    x: torch.Tensor,
    y: torch.Tensor,
    minority: Sequence[int],
    num_classes: int,
    seed: int,
    target_count: Target = 6000,
    alpha: float = 34.0,
    sigma: float = 4.0,
) -> Augmentation:
    """Top up with elastically distorted copies of real minority images (Simard et al. 2003;
    the paper's MNIST values: ``alpha`` 34 px, ``sigma`` 4 px; see :func:`random_elastic`)."""
    base = oversample(x, y, minority, num_classes, seed, target_count)
    g = torch.Generator().manual_seed(stream_seed(seed, "augment.elastic"))
    warped = random_elastic(base.images, alpha, sigma, generator=g)
    return Augmentation(warped, base.labels, {"alpha": alpha, "sigma": sigma})


def smote(
    x: torch.Tensor,
    y: torch.Tensor,
    minority: Sequence[int],
    num_classes: int,
    seed: int,
    target_count: Target = 6000,
    k_neighbors: int = 5,
) -> Augmentation:
    """Top up with imbalanced-learn's SMOTE on flattened pixels."""
    from imblearn.over_sampling import SMOTE

    need = _deficits(y, minority, target_count, num_classes)
    strategy = {c: _target_of(target_count, c) for c, d in need.items() if d > 0}
    if not strategy:
        return _empty(x)
    flat = x.reshape(len(x), -1).numpy()
    labels = y.numpy()
    sm = SMOTE(sampling_strategy=strategy, k_neighbors=k_neighbors, random_state=int(seed))
    xr, yr = sm.fit_resample(flat, labels)
    # imbalanced-learn appends the synthetic rows after the originals
    new_x = torch.from_numpy(np.ascontiguousarray(xr[len(flat) :], dtype=np.float32))
    new_y = torch.from_numpy(np.asarray(yr[len(flat) :], dtype=np.int64))
    return Augmentation(
        new_x.reshape(-1, *x.shape[1:]).clamp(-1, 1), new_y, {"k_neighbors": k_neighbors}
    )


def inverse_frequency_weights(counts: Sequence[int]) -> list[float]:
    """Class weights ``N / (C * n_c)`` (sklearn's "balanced"); classes with no data get 0."""
    total, k = sum(counts), len(counts)
    return [total / (k * n) if n else 0.0 for n in counts]
