"""Synthetic minority images for the generative scenarios: from the generator cache, trained
there if need be."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from omegaconf import DictConfig

from imbalance_gan import record
from imbalance_gan.data import Split
from imbalance_gan.generators.pipeline import cached_generator, load_generator
from imbalance_gan.generators.quality import cannot_judge_reasons, quality_floor_misses
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import atomic_write, read_png
from imbalance_gan.runtime.seeds import stream_seed

log = logging.getLogger("imbalance_gan.scenarios")


def load_synthetic(
    path: Path, num_classes: int, image_shape: tuple[int, ...], classes: list[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read and check a ``synthetic.pt``: uint8 images ``[N, *image_shape]``, int64 labels."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        images, labels = blob["images"], blob["labels"]
    except Exception as err:
        raise UserError(
            f"{path} is not a readable synthetic.pt ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise UserError(f"{path}: images must be a uint8 tensor")
    if tuple(images.shape[1:]) != tuple(image_shape):
        raise UserError(
            f"{path}: images have shape {tuple(images.shape)}, expected [N, {', '.join(map(str, image_shape))}]"
        )
    if (
        not isinstance(labels, torch.Tensor)
        or labels.dtype != torch.int64
        or labels.shape != (len(images),)
    ):
        raise UserError(f"{path}: labels must be an int64 tensor of length {len(images)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise UserError(f"{path}: labels outside 0..{num_classes - 1}")
    if classes is not None and len(labels) and not torch.isin(labels, torch.tensor(classes)).all():
        raise UserError(
            f"{path}: labels {sorted(set(labels.tolist()))} are not the minority classes {classes}"
        )
    return images, labels


def take_per_class(
    images: torch.Tensor, labels: torch.Tensor, need: dict[int, int], source: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``need[c]`` images of each class ``c`` (in the set's order)."""
    keep = []
    for c, n in need.items():
        idx = torch.nonzero(labels == c, as_tuple=True)[0]
        if len(idx) < n:
            raise UserError(
                f"{source} holds {len(idx)} images of class {c} but the scenario needs {n}: "
                "raise gan.num_synthetic"
            )
        keep.append(idx[:n])
    idx = torch.cat(keep) if keep else torch.zeros(0, dtype=torch.int64)
    return images[idx], labels[idx]


def generate_for_classes(
    cfg: DictConfig, split: Split, need: dict[int, int], seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``need[c]`` fresh samples of each class ``c`` from the scenario's cached, class-conditional
    generator (for the class-agnostic variants, which need images of every class)."""
    model = load_generator(cfg, cached_generator(cfg, split), list(split.minority))
    xs, ys = [], []
    for c, n in need.items():
        if n > 0:
            xs.append(model.sample(n, [c], seed=stream_seed(seed, "generator.per_class", c)))
            ys.append(torch.full((n,), c, dtype=torch.int64))
    if not xs:
        return split.train_x[:0], torch.zeros(0, dtype=torch.int64)
    return torch.cat(xs), torch.cat(ys)


def copy_sample_grid(samples: Path, dest: Path) -> bool:
    """Copy a generator cache entry's sample grid to ``dest`` (False: none to copy). A grid that is a
    link, not a small PNG, or not a regular file is left behind with a warning: a shared cache
    could otherwise put any file of the machine into the run's folder, and from there into its
    report."""
    if not os.path.lexists(samples):
        return False
    try:
        data = read_png(samples)
    except (OSError, ValueError) as err:
        log.warning("sample grid not copied into the run: %s: %s", samples, err)
        return False
    atomic_write(dest, lambda f: f.write(data))
    return True


def synthetic_for_scenario(
    cfg: DictConfig, split: Split, need: dict[int, int]
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """``need[c]`` synthetic images (uint8) of each minority class ``c``, their labels, and what
    the run record keeps of the generator run. The generator's sample grid is copied into the run's folder,
    so the run shows what it trained on without the cache."""
    entry = cached_generator(cfg, split)
    copy_sample_grid(entry / "samples.png", Path(cfg.paths.output_dir) / record.GAN_SAMPLES)
    path = entry / "synthetic.pt"
    images, labels = load_synthetic(
        path, split.num_classes, split.image_shape, list(split.minority)
    )
    images, labels = take_per_class(images, labels, need, str(path))
    gan = record.read(entry / record.RECORD_FILE)
    # judged against this run's quality floor: the cached generator may have been made under another
    gan.update(record.collapse_fields(quality_floor_misses(gan, cfg.selection)))
    unjudged = cannot_judge_reasons(gan, cfg.selection)
    if unjudged is not None:  # None: a generator from before records said (upgraded on read)
        gan.update(record.judge_fields(unjudged))
    return images, labels, record.gan_run_info(entry, gan)
