"""What a run costs on a CPU like this project's (2 cores), to plan a study and to warn before a
long run: seconds per optimiser step, for 1 x 28 x 28 images (scaled by the pixels of others).

Measured from the committed quick studies' records on the project's 2-core CPU (AMD EPYC,
2 torch threads, December 2026), wall time over steps, evaluation included:
- classifier (the study's CNN, batches of 256, 384 steps: two MNIST epochs, each validated,
  then the test set): `original` took 80-171 s (diffusion_300, fashion_300, quick), 0.2-0.45 s
  a step; 0.3 is taken;
- generator (selection scoring included): projgan's 4,000 quick steps took 1,258 s
  (fashion_300), dcgan's 2,000 726 s, the diffusion model's 1,500 1,499 s (compare_30,
  diffusion_30): 0.31, 0.36 and 1.0 s a step; 0.35 is taken for GANs, 1.0 for diffusion.
Runs made with several at once (study.jobs) or one thread each take up to twice as long.
A GPU is many times faster; the numbers say nothing about one.
"""

from __future__ import annotations

import math

#: seconds per classifier optimiser step (batch 256) on 1 x 28 x 28 images, this CPU
CLASSIFIER_STEP_S = 0.3
#: seconds per generator training step (selection scoring included) on 1 x 28 x 28 images, by
#: family (the part of gan.family after its last dot); others take the GANs'
GENERATOR_STEP_S = {"GANFamily": 0.35, "DiffusionFamily": 1.0}
#: the pixels the step costs were measured at
MEASURED_PIXELS = 28 * 28


def epochs_with_floor(max_epochs: int, min_steps: int | None, batch_size: int, n: int) -> int:
    """The epochs a classifier trains on ``n`` images: ``max_epochs``, or as many as
    ``min_steps`` optimiser steps of ``batch_size`` need when that is more."""
    if min_steps is None:
        return int(max_epochs)
    per_epoch = max(1, -(-int(n) // int(batch_size)))
    return max(int(max_epochs), -(-int(min_steps) // per_epoch))


def generator_step_s(family: str) -> float:
    """Seconds per training step of a generator of ``family`` (its import path)."""
    return GENERATOR_STEP_S.get(str(family).rsplit(".", 1)[-1], GENERATOR_STEP_S["GANFamily"])


def cpu_seconds(
    classifier_steps: int = 0, generator_seconds: float = 0.0, image_shape=(1, 28, 28)
) -> float:
    """The expected seconds of ``classifier_steps`` classifier steps and generator work that
    takes ``generator_seconds`` at 1 x 28 x 28, on this project's CPU at ``image_shape``."""
    scale = math.prod(image_shape) / MEASURED_PIXELS
    return scale * (classifier_steps * CLASSIFIER_STEP_S + generator_seconds)


def minutes(seconds: float) -> str:
    """``about 41 minutes`` / ``about 2.5 hours``, for a plan line."""
    if seconds >= 5400:
        return f"about {seconds / 3600:.1f} hours"
    if seconds < 45:
        return "under a minute"
    return f"about {max(1, round(seconds / 60))} minute{'s' if seconds >= 90 else ''}"
