"""Drawing the synthetic set, optionally filtered (``gan.filter``).

The filter generates more than needed and keeps a sample only when

- the selection's feature network, a classifier trained on the imbalanced training split only
  (never the full data, never the test set), assigns it to the class it was generated for with
  probability at least ``min_confidence``; and
- it is not a near-copy of a training image: its distance to the nearest training image of its
  class, in the same feature space, is not below the ``copy_quantile`` of the training images'
  own nearest-neighbour distances.

It draws rounds of samples until every class has its count, at most ``max_rounds`` of them.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from imbalance_gan.generators.callback import cycled_labels
from imbalance_gan.generators.family import GeneratorModule
from imbalance_gan.generators.quality import nearest_distances
from imbalance_gan.generators.selection import Selector
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.seeds import stream_seed

FILTER_KEYS = ("min_confidence", "copy_quantile", "max_rounds")


def check_filter(cfg_filter: DictConfig | None) -> None:
    """Refuse a ``gan.filter`` that cannot work, before training starts."""
    if cfg_filter is None:
        return
    unknown = set(cfg_filter) - set(FILTER_KEYS)
    if unknown:
        raise UserError(f"gan.filter has unknown keys {sorted(unknown)}; it takes {FILTER_KEYS}")
    if not 0.0 <= float(cfg_filter.min_confidence) < 1.0:
        raise UserError(f"gan.filter.min_confidence={cfg_filter.min_confidence} must be in [0, 1)")
    if not 0.0 <= float(cfg_filter.copy_quantile) < 1.0:
        raise UserError(f"gan.filter.copy_quantile={cfg_filter.copy_quantile} must be in [0, 1)")
    if int(cfg_filter.max_rounds) < 1:
        raise UserError(f"gan.filter.max_rounds={cfg_filter.max_rounds} must be at least 1")


def keep_mask(
    selector: Selector,
    fake: torch.Tensor,
    labels: torch.Tensor,
    min_confidence: float,
    copy_lines: dict[int, float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which samples pass: (confident in their class, not a near-copy), two bool [N] masks."""
    labels = labels.cpu()
    probs = selector.probabilities(fake)
    confident = probs[torch.arange(len(labels)), labels] >= min_confidence
    novel = torch.ones(len(labels), dtype=torch.bool)
    feats = selector.features(fake)
    train_labels = selector.train_labels.to(selector.real_train.device)
    for c, line in copy_lines.items():
        mine = labels == c
        if mine.any():
            train_c = selector.real_train[train_labels == c]
            dist = nearest_distances(feats[mine.to(feats.device)], train_c).cpu()
            novel[mine] = dist >= line
    return confident, novel


def draw_synthetic(
    model: GeneratorModule,
    selector: Selector,
    classes: list[int],
    per_class: int,
    seed: int,
    cfg_filter: DictConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """``per_class`` generated images (in [-1, 1]) of each class in ``classes`` and their labels,
    filtered when ``cfg_filter`` is given; plus counts for the run record. ``seed`` is the run's:
    the noise comes from its ``generator.synthetic`` stream (a round of the filter per index)."""
    n = per_class * len(classes)
    if cfg_filter is None:
        fake = model.sample(n, classes, seed=stream_seed(seed, "generator.synthetic"))
        return fake, cycled_labels(classes, n), {}
    lines = selector.copy_lines(float(cfg_filter.copy_quantile))
    kept_x: dict[int, list[torch.Tensor]] = {c: [] for c in classes}
    have = dict.fromkeys(classes, 0)
    info = {"filter/generated": 0, "filter/dropped_class": 0, "filter/dropped_copy": 0}
    info["filter/passed"] = 0
    for r in range(int(cfg_filter.max_rounds)):
        need = [c for c in classes if have[c] < per_class]
        if not need:
            break
        # each round asks for twice what is still missing, in fresh noise
        m = 2 * sum(per_class - have[c] for c in need)
        fake = model.sample(m, need, seed=stream_seed(seed, "generator.synthetic", r)).cpu()
        labels = cycled_labels(need, m)
        confident, novel = keep_mask(
            selector, fake, labels, float(cfg_filter.min_confidence), lines
        )
        info["filter/generated"] += m
        info["filter/dropped_class"] += int((~confident).sum())
        info["filter/dropped_copy"] += int((confident & ~novel).sum())
        info["filter/passed"] += int((confident & novel).sum())
        for c in need:
            take = fake[(labels == c) & confident & novel][: per_class - have[c]]
            kept_x[c].append(take)
            have[c] += len(take)
    short = {c: per_class - have[c] for c in classes if have[c] < per_class}
    if short:
        raise UserError(
            f"gan.filter kept too few samples after {cfg_filter.max_rounds} rounds (missing per "
            f"class: {short}); the generator rarely makes confident, novel images of these "
            "classes: lower gan.filter.min_confidence or raise gan.filter.max_rounds"
        )
    fake = torch.cat([torch.cat(kept_x[c]) for c in classes])
    labels = torch.cat([torch.full((per_class,), c, dtype=torch.int64) for c in classes])
    info["filter/kept"] = n
    return fake, labels, info
