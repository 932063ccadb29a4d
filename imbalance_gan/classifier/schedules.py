"""Learning-rate schedules over a whole budget: built with the number of optimizer steps the
run will take, and stepped at every batch (``classifier/scheduler=cosine``). Schedules stepped
on a metric at epoch end (``plateau``, the study's) are torch's own."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR


def per_step(factory: Callable) -> Callable:
    """Mark a schedule factory as one that takes ``total_steps`` and is stepped every batch."""
    factory.per_step = True
    return factory


def is_per_step(factory: Callable | None) -> bool:
    """Whether a (possibly partial) schedule factory is :func:`per_step`."""
    return bool(getattr(getattr(factory, "func", factory), "per_step", False))


def cosine_factor(
    step: int, total_steps: int, final_fraction: float = 0.0, warmup_fraction: float = 0.0
) -> float:
    """The learning rate at batch ``step`` (0-based) as a fraction of the optimizer's: a linear
    rise over the first ``warmup_fraction`` of the steps, then a half cosine that reaches
    ``final_fraction`` at the last step, ``total_steps - 1``."""
    last = max(int(total_steps) - 1, 0)
    warm = int(round(float(warmup_fraction) * last))
    if step < warm:
        return (step + 1) / (warm + 1)
    if last == warm:
        return 1.0
    t = min(max(step - warm, 0), last - warm) / (last - warm)
    return float(final_fraction) + (1.0 - float(final_fraction)) * 0.5 * (
        1.0 + math.cos(math.pi * t)
    )


@per_step
def cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    final_fraction: float = 0.0,
    warmup_fraction: float = 0.0,
) -> LambdaLR:
    """Cosine annealing over ``total_steps`` optimizer steps (see :func:`cosine_factor`)."""
    if int(total_steps) < 1:
        raise ValueError(f"total_steps={total_steps} must be at least 1")
    if not 0.0 <= float(final_fraction) <= 1.0 or not 0.0 <= float(warmup_fraction) < 1.0:
        raise ValueError(
            f"final_fraction={final_fraction} must lie in [0, 1] and warmup_fraction="
            f"{warmup_fraction} in [0, 1)"
        )
    return LambdaLR(
        optimizer, lambda s: cosine_factor(s, total_steps, final_fraction, warmup_fraction)
    )
