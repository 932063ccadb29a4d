"""Scenarios: the training set each one makes from the classifier's training split (classic
augmenters in :mod:`augment`, generated samples in :mod:`synthetic`), chosen by the
``scenario`` config (whose rules are ``classifier/rules.py``'s).

Every scenario that tops up the minority classes brings each of them to the same total,
``scenario.target_count`` (``null``: the largest class's count in the training part), however
the extra images are made: a generative scenario takes ``generator_share`` of each class's
deficit from the generator and the scenario's augmenter (if any) makes the rest from *real*
images only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from imbalance_gan.data import Split, TrainingSet
from imbalance_gan.data.imbalance import class_histogram
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.seeds import stream_seed
from imbalance_gan.scenarios.augment import Augmentation, inverse_frequency_weights
from imbalance_gan.scenarios.synthetic import generate_for_classes, synthetic_for_scenario

__all__ = ["ScenarioData", "build_training_data", "inverse_frequency_weights", "top_up_plan"]


@dataclass(frozen=True)
class ScenarioData:
    """What a scenario makes: the training set, and what the run record keeps of the generator
    run it drew from (``None``: it drew from none)."""

    training: TrainingSet
    generator_run: dict | None = None


def top_up_plan(cfg_scenario: DictConfig, split: Split) -> dict[int, tuple[int, int]]:
    """Per minority class: (images the generator adds, images the augmenter adds)."""
    counts = class_histogram(split.train_y, split.num_classes)
    target = cfg_scenario.get("target_count")
    target = max(counts) if target is None else int(target)
    share = float(cfg_scenario.get("generator_share", 1.0)) if cfg_scenario.use_generator else 0.0
    plan = {}
    for c in split.minority:
        deficit = max(0, target - counts[c])
        from_generator = round(share * deficit)
        plan[c] = (from_generator, deficit - from_generator)
    return plan


def check_adds_something(cfg: DictConfig, split: Split, plan: dict[int, tuple[int, int]]) -> None:
    """Refuse a scenario that tops up the rare classes when none is below its target: it would
    add nothing and silently equal ``original``."""
    sc = cfg.scenario
    if (sc.augment is None and not sc.use_generator) or any(a + b for a, b in plan.values()):
        return
    target = sc.get("target_count")
    counts = class_histogram(split.train_y, split.num_classes)
    rare = ", ".join(f"{split.class_label(c)}: {counts[c]}" for c in split.minority) or "none"
    raise UserError(
        f"scenario={sc.name} tops up the rare classes to "
        f"{'the largest class' if target is None else target} training images, but none is "
        f"below that (rare classes and their training images: {rare}), so it would add nothing "
        "and equal scenario=original; raise data.top_up_to or study a rarer class"
    )


def _spread_to_every_class(
    cfg: DictConfig,
    split: Split,
    training: TrainingSet,
    plan: dict[int, tuple[int, int]],
    counts: list[int],
) -> TrainingSet:
    """The class-agnostic step: ``training`` with every other class given the minority's
    shares of made images, each in place of real images of its class (``counts``: the real
    training images per class)."""
    sc = cfg.scenario
    total = sum(counts[c] + a + b for c, (a, b) in plan.items())
    share_generated = sum(a for a, _ in plan.values()) / total
    share_aug = sum(b for _, b in plan.values()) / total
    g = torch.Generator().manual_seed(stream_seed(cfg.seed, "scenario.agnostic"))
    index, from_generator, to_aug = [], {}, {}
    for c in range(split.num_classes):
        if c in plan or counts[c] == 0:
            continue
        k_generated, k_aug = round(share_generated * counts[c]), round(share_aug * counts[c])
        from_generator[c] = k_generated
        to_aug[c] = counts[c] + k_aug
        own = torch.nonzero(split.train_y == c, as_tuple=True)[0]
        index.append(own[torch.randperm(len(own), generator=g)[: k_generated + k_aug]])
    if not index:
        return training
    made_x, made_y, made_by_generator = [], [], []
    if sc.use_generator:
        x, y = generate_for_classes(cfg, split, from_generator, int(cfg.seed))
        made_x.append(x)
        made_y.append(y)
        made_by_generator.append(torch.ones(len(y), dtype=torch.bool))
    if sc.augment is not None:
        # made from the real images of each class, as the minority's were (before any is dropped)
        augment = instantiate(sc.augment)
        aug = augment(
            split.train_x,
            split.train_y,
            list(to_aug),
            split.num_classes,
            cfg.seed,
            target_count=to_aug,
        )
        made_x.append(aug.images)
        made_y.append(aug.labels)
        made_by_generator.append(torch.zeros(len(aug.labels), dtype=torch.bool))
    return training.replacing(
        torch.cat(index), torch.cat(made_x), torch.cat(made_y), torch.cat(made_by_generator)
    )


def build_training_data(cfg: DictConfig, split: Split) -> ScenarioData:
    """The scenario's training set: ``split``'s real training part and the examples the
    scenario makes (generated, augmented, spread to every class), with their loss weights."""
    sc = cfg.scenario  # checked: classifier/rules.py
    plan = top_up_plan(sc, split)
    check_adds_something(cfg, split, plan)
    real_x, real_y = split.train_x, split.train_y
    counts = class_histogram(real_y, split.num_classes)
    training = TrainingSet.real(split)
    generator_run = None
    if sc.use_generator:
        need = {c: from_generator for c, (from_generator, _) in plan.items()}
        if max(need.values(), default=0) > int(cfg.gan.num_synthetic):
            raise UserError(
                f"the scenario needs {max(need.values())} generated images of a class but "
                f"gan.num_synthetic={cfg.gan.num_synthetic}: raise it"
            )
        images, labels, generator_run = synthetic_for_scenario(cfg, split, need)
        training = training.adding(images, labels, generated=True)
    if sc.augment is not None:
        augment = instantiate(sc.augment)
        # the augmenter works from real images only, up to what the generator left to it
        targets = {c: counts[c] + from_aug for c, (_, from_aug) in plan.items()}
        aug: Augmentation = augment(
            real_x, real_y, list(split.minority), split.num_classes, cfg.seed, target_count=targets
        )
        training = training.adding(aug.images, aug.labels)
    if sc.get("class_agnostic"):
        training = _spread_to_every_class(cfg, split, training, plan, counts)
    weight = sc.get("synthetic_weight")
    return ScenarioData(training.weighted(None if weight is None else float(weight)), generator_run)
