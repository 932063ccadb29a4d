"""What a run costs on this project's CPU (2 cores, shared), to plan a study and to say before a
long run how long it takes: seconds per optimiser step and per generated image, measured on
28 x 28 images (others scale with their pixels, H x W: a third channel costs these nets little;
the committed rgb_digits_30 runs took as long as MNIST's).

Measured 2026-12-08 on this machine (AMD EPYC, 2 cores), one torch thread (OMP_NUM_THREADS=1),
MNIST with 300 zeros, from short runs: the CPU seconds (user + sys) of two runs of a different
length, so start-up, loading and testing cancel out:
- classifier (the study's CNN, batches of 256): ``classify classifier.max_epochs=1
  trainer.limit_train_batches=20`` 15.2 s, ``=100`` 27.2 s: 0.15 s a step, 12 s besides
  (start, loading, validation, the test set);
- generators, ``train experiment=quick gan.max_steps=50`` vs ``=150`` (scored once, at the end):
  vanilla 9.5 / 14.0 s, dcgan 16.1 / 24.9 s, cgan 17.8 / 30.4 s, projgan 15.8 / 27.2 s, diffusion
  67.2 / 95.4 s: 0.045, 0.088, 0.127, 0.115 and 0.28 s a step; a selection score (500 images
  drawn and measured; ``selection.every_n_steps=50``, 3 scores instead of 1) costs the diffusion
  model 41 s, 0.08 s an image (its 6,000 final images, in larger batches, 0.065 each: a
  10-step run took 461 s), projgan 0.2 s (``every_n_steps=10``, 15 scores), 0.0004 an image.
Whole runs in the committed quick studies (results/*, one thread, beside other work on the
machine) took 1.05-1.8x what these give, most about 1.4x (classify `original` 80-160 s against
69 s; projgan 610-800 s against 474 s; dcgan 200-250 s against 188 s at 300 zeros; diffusion
1,390-2,360 s against 1,323 s): the estimates take 1.4x. (The short runs' wall time, beside
other engineers' work at a load of 4-6, was 1.2-2.5x their CPU time: hence CPU seconds.) Runs
with two threads took about as long in the committed studies (results/quick: `original` 71-171
s). A GPU is many times faster; nothing here says how much.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: seconds of one classifier optimiser step (the study's CNN, a batch of 256) at 28 x 28
CLASSIFIER_STEP_S = 0.15
#: seconds a classify run spends besides its steps: start, loading, validation, testing
CLASSIFIER_RUN_S = 12.0


@dataclass(frozen=True)
class GeneratorCost:
    """What one generator costs at 28 x 28: seconds a training step, and a generated image
    (each selection score draws ``selection.num_samples``, the end ``gan.num_synthetic`` a
    rare class)."""

    step_s: float
    image_s: float


#: by ``gan.name``; another generator takes its family's entry (the part of ``gan.family``
#: after its last dot), and an unknown family the GANs'
GENERATOR_COSTS = {
    "vanilla": GeneratorCost(0.045, 0.0004),
    "dcgan": GeneratorCost(0.088, 0.0004),
    "cgan": GeneratorCost(0.127, 0.0004),
    "projgan": GeneratorCost(0.115, 0.0004),
    "diffusion": GeneratorCost(0.28, 0.08),
    "GANFamily": GeneratorCost(0.127, 0.0004),
    "DiffusionFamily": GeneratorCost(0.28, 0.08),
}
#: seconds a generator run spends besides its steps and images: start, loading, evaluation
GENERATOR_RUN_S = 12.0
#: whole runs on this shared machine over the short runs' CPU seconds (the committed studies)
SHARED_MACHINE = 1.4
#: the pixels (H x W) the costs were measured at
MEASURED_PIXELS = 28 * 28


def batches(n: int, batch_size: int) -> int:
    """The batches of an epoch of ``n`` images (the last one may be short), at least one."""
    return max(1, -(-int(n) // int(batch_size)))


def epochs_with_floor(max_epochs: int, min_steps: int | None, batch_size: int, n: int) -> int:
    """The epochs a classifier trains on ``n`` images: ``max_epochs``, or as many as
    ``min_steps`` optimiser steps of ``batch_size`` need when that is more."""
    if min_steps is None:
        return int(max_epochs)
    return max(int(max_epochs), -(-int(min_steps) // batches(n, batch_size)))


def trained_batches(per_epoch: int, limit: int | float | None) -> int:
    """The batches an epoch of ``per_epoch`` trains under ``trainer.limit_train_batches``
    ``limit`` (a count, a share, or None: all)."""
    if limit is None:
        return per_epoch
    return min(per_epoch, int(limit)) if isinstance(limit, int) else int(per_epoch * limit)


def generator_steps(
    max_steps: int | None, max_epochs: int, batch_size: int, n: int, limit=None
) -> int:
    """The training steps of a generator that learns ``n`` images: ``max_steps`` when set,
    else ``max_epochs`` epochs of batches of ``batch_size`` (``limit``: as
    :func:`trained_batches`)."""
    if max_steps:
        return int(max_steps)
    return int(max_epochs) * trained_batches(batches(n, batch_size), limit)


def _scale(image_shape: Sequence[int]) -> float:
    return math.prod(image_shape[-2:]) / MEASURED_PIXELS


def classifier_seconds(steps: int, image_shape: Sequence[int] = (1, 28, 28)) -> float:
    """The expected seconds of one classify run of ``steps`` optimiser steps on this CPU."""
    return SHARED_MACHINE * (_scale(image_shape) * steps * CLASSIFIER_STEP_S + CLASSIFIER_RUN_S)


def generator_cost(name: str, family: str) -> GeneratorCost:
    """The cost entry of generator ``name`` (``gan.name``) of ``family`` (its import path)."""
    family = str(family).rsplit(".", 1)[-1]
    return GENERATOR_COSTS.get(str(name), GENERATOR_COSTS.get(family, GENERATOR_COSTS["GANFamily"]))


def generator_seconds(
    cost: GeneratorCost, steps: int, images: int, image_shape: Sequence[int] = (1, 28, 28)
) -> float:
    """The expected seconds of training one generator ``steps`` steps and drawing ``images``
    images (its selection scores' and its final ones) on this CPU."""
    work = steps * cost.step_s + images * cost.image_s
    return SHARED_MACHINE * (_scale(image_shape) * work + GENERATOR_RUN_S)


def minutes(seconds: float) -> str:
    """``about 41 minutes`` / ``about 2.5 hours``, for a plan line."""
    if seconds >= 5400:
        return f"about {seconds / 3600:.1f} hours"
    if seconds < 45:
        return "under a minute"
    return f"about {max(1, round(seconds / 60))} minute{'s' if seconds >= 90 else ''}"
