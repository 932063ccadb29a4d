"""What training a generator takes: its steps and the images it draws, from its budget and the
data, and about how long that is on this project's CPU (``runtime/costs.py``). Read by a
study's plan and said before a generator trains on a CPU."""

from __future__ import annotations

from omegaconf import DictConfig

from imbalance_gan.data import Split
from imbalance_gan.data.imbalance import class_histogram
from imbalance_gan.generators.family import is_conditional
from imbalance_gan.runtime.costs import generator_cost, generator_seconds, generator_steps


def generator_work(cfg: DictConfig, split: Split) -> tuple[int, int]:
    """The training steps of ``cfg.gan`` and the images it draws: its budget in steps, or its
    epochs over the images it learns (every training image for a class-conditional generator,
    the rare classes' otherwise); ``selection.num_samples`` for each selection score (every
    ``selection.every_n_steps`` steps, or ``every_n_epochs`` epochs, and at the end) and
    ``gan.num_synthetic`` for each rare class."""
    g, sel = cfg.gan, cfg.selection
    counts = class_histogram(split.train_y, split.num_classes)
    learns = sum(counts) if is_conditional(g) else sum(counts[c] for c in split.minority)
    limit = cfg.trainer.get("limit_train_batches")
    steps = generator_steps(g.get("max_steps"), g.max_epochs, g.batch_size, learns, limit)
    if g.get("max_steps"):
        scores = -(-steps // int(sel.every_n_steps))
    else:
        scores = -(-int(g.max_epochs) // int(sel.every_n_epochs))
    images = scores * int(sel.num_samples) + int(g.num_synthetic) * len(split.minority)
    return steps, images


def generator_run_seconds(cfg: DictConfig, split: Split) -> float:
    """About how long training ``cfg.gan`` on ``split`` takes on this project's CPU."""
    steps, images = generator_work(cfg, split)
    cost = generator_cost(cfg.gan.name, cfg.gan.family)
    return generator_seconds(cost, steps, images, split.image_shape)
