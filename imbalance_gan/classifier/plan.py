"""A study's plan before it starts: how many runs, how many generators to train, and about how
long on this project's CPU (``runtime/costs.py``), from each run's budget and the data's size."""

from __future__ import annotations

from omegaconf import DictConfig

from imbalance_gan.classifier.pipeline import classifier_epochs, trained_batches
from imbalance_gan.data import Split
from imbalance_gan.generators.budget import generator_run_seconds
from imbalance_gan.runtime.costs import batches, classifier_seconds, minutes
from imbalance_gan.scenarios import top_up_plan


def training_images(run_cfg: DictConfig, split: Split) -> int:
    """About how many images a run trains on: the real training part, and for a scenario that
    tops up the rare classes their deficits to its target."""
    n = len(split.train_y)
    sc = run_cfg.scenario
    if sc.augment is None and not sc.use_generator:
        return n
    return n + sum(made + copied for made, copied in top_up_plan(sc, split).values())


def classifier_steps(run_cfg: DictConfig, split: Split) -> int:
    """The optimiser steps of a run's classifier (its epochs, ``classifier.min_steps`` included)."""
    n = training_images(run_cfg, split)
    per_epoch = batches(n, run_cfg.classifier.batch_size)
    return classifier_epochs(run_cfg.classifier, n) * trained_batches(run_cfg, per_epoch)


def plan_line(
    runs: list[DictConfig], finished: int, generators: list[DictConfig], split: Split
) -> str:
    """``plan: 24 runs (8 finished), 3 generators to train, about 41 minutes on this CPU``, for
    the unfinished ``runs`` and the unfinished cache entries ``generators`` (one config each)."""
    seconds = sum(classifier_seconds(classifier_steps(r, split), split.image_shape) for r in runs)
    seconds += sum(generator_run_seconds(g, split) for g in generators)
    total = len(runs) + finished
    return (
        f"plan: {total} runs ({finished} finished), {len(generators)} generator"
        f"{'' if len(generators) == 1 else 's'} to train, {minutes(seconds)} on a 2-core CPU "
        "like this project's (runtime/costs.py; a GPU is much faster)"
    )
