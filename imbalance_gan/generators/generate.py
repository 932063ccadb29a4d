"""Draw images from a trained generator: a ``train`` run dir, or the cache entry of a config.

Writes ``generated.npz`` (``images`` uint8 ``[N, C, H, W]``, ``labels`` int64) and
``generated.png`` (a grid) from the run's selected checkpoint (EMA weights when it has them).
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig
from torchvision.utils import make_grid, save_image

from imbalance_gan import record
from imbalance_gan.generators import cache
from imbalance_gan.generators.callback import cycled_labels
from imbalance_gan.generators.family import family_of
from imbalance_gan.generators.pipeline import as_synthetic, load_generator
from imbalance_gan.generators.runconfig import rebuilt_config
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import atomic_write, savez


def trained_source(cfg: DictConfig) -> tuple[Path, DictConfig, list[int]]:
    """The finished generator run to draw from, its config and its minority classes. A run dir's
    config is rebuilt from this package's own (:func:`rebuilt_config`), never built from."""
    if cfg.run is not None:
        source = Path(str(cfg.run))
        if not source.is_dir():
            raise UserError(f"run={source} is not a folder (a finished train run dir)")
        if not (source / "checkpoints" / "best.ckpt").is_file():
            raise UserError(f"{source} holds no checkpoints/best.ckpt: not a trained generator run")
        for name in ("config.yaml", record.RECORD_FILE):
            if not (source / name).is_file():
                raise UserError(f"{source} holds no {name}: not a finished generator run")
        run = _generator_record(source)  # the kind first: a classify run's config is no generator's
        gen_cfg = rebuilt_config(source / "config.yaml", cfg)
        check_buildable(gen_cfg, source)
    else:
        source, gen_cfg = cache.entry_dir(cfg), cfg
        if not cache.is_finished(source):
            raise UserError(
                f"no finished {cfg.gan.name} generator in {Path(cfg.paths.artifact_dir) / 'gan'} "
                "for this data/generator config/seed; train it first with python -m "
                "imbalance_gan.train and the same overrides, or pass run=<a train run dir>"
            )
        run = _generator_record(source)
    return source, gen_cfg, _minority(run, source)


def check_buildable(cfg: DictConfig, source: Path) -> None:
    """Refuse, in one line, a run whose config describes a generator its family refuses or
    cannot build, checked on the ``meta`` device, which allocates nothing (a size planted in
    the file costs no memory; :func:`load_generator` then checks it against the checkpoint)."""
    where = source / "config.yaml"
    try:
        with torch.device("meta"):
            family_of(cfg.gan).check(cfg)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    except Exception as err:
        cause = err.__cause__ or err  # hydra's instantiate wraps the net's own words
        first = f"{type(cause).__name__}: {cause}".strip().splitlines()[0]
        raise UserError(f"{where} describes a generator that cannot be built ({first})") from None


def _generator_record(source: Path) -> dict:
    """The run record of a generator run (JSON, read as data); refused if it is not one."""
    try:
        run = record.read(source / record.RECORD_FILE)
    except record.RecordError as err:
        raise UserError(f"cannot read {source / record.RECORD_FILE}: {err}") from None
    if run.get("kind") != "gan":
        kind = run.get("kind")
        raise UserError(f"{source} is not a generator run (its record is of kind {kind!r})")
    return run


def _minority(run: dict, source: Path) -> list[int]:
    classes = run.get("minority_classes")
    if not isinstance(classes, list) or not all(type(c) is int for c in classes):
        raise UserError(f"{source}: minority_classes in its record is not a list of classes")
    return classes


def generate(cfg: DictConfig, out: Path) -> dict:
    """Draw ``cfg.n`` images of ``cfg.classes`` (default: the generator's minority classes) with
    noise seed ``cfg.seed`` into ``out``; returns what was written."""
    n = int(cfg.n)
    if n < 1:
        raise UserError(f"n={cfg.n} must be at least 1")
    source, gen_cfg, minority = trained_source(cfg)
    model = load_generator(gen_cfg, source, minority)
    classes = minority if cfg.classes is None else [int(c) for c in cfg.classes]
    num_classes = int(gen_cfg.data.num_classes)
    allowed = range(num_classes) if model.conditional else minority
    wrong = [c for c in classes if c not in allowed]
    if wrong or not classes:
        raise UserError(
            f"classes={classes}: this {gen_cfg.gan.name} generator makes classes {list(allowed)}"
        )
    fake = model.sample(n, classes, seed=int(cfg.seed))
    images, labels = as_synthetic(fake, cycled_labels(classes, n))
    savez(out / "generated.npz", images=images.numpy(), labels=labels.numpy())
    grid = make_grid(images[:100].float() / 255.0, nrow=10, pad_value=1.0)
    atomic_write(out / "generated.png", lambda f: save_image(grid, f, format="png"))
    return {"n": n, "classes": classes, "source": str(source)}
