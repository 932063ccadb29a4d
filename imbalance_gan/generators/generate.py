"""Draw images from a trained GAN: a ``train`` run dir, or the GAN cache entry of a config.

Writes ``generated.npz`` (``images`` uint8 ``[N, C, H, W]``, ``labels`` int64) and
``generated.png`` (a grid) from the run's selected checkpoint (EMA weights when it has them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from torchvision.utils import make_grid, save_image

from imbalance_gan import record
from imbalance_gan.generators import cache
from imbalance_gan.generators.callback import cycled_labels
from imbalance_gan.generators.pipeline import as_synthetic, load_generator
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import atomic_write, savez

#: the package whose code a run dir's config may name
OWN_CODE = "imbalance_gan."


def _code_names(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, import path) of every ``_target_`` and ``family`` in a config container."""
    if isinstance(value, dict):
        for k, v in value.items():
            path = f"{key}.{k}" if key else str(k)
            if k in ("_target_", "family") and isinstance(v, str):
                yield path, v
            else:
                yield from _code_names(v, path)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _code_names(v, f"{key}[{i}]")


def _own_code(target: str) -> bool:
    """Whether ``target`` names a class or function defined in this package under its own name
    (``imbalance_gan.runtime.cli.os.system`` reaches ``os.system`` through a module attribute,
    and is not)."""
    if not target.startswith(OWN_CODE):
        return False
    try:
        obj = get_object(target)
    except Exception:
        return False
    module, name = getattr(obj, "__module__", "") or "", getattr(obj, "__qualname__", "")
    return module.startswith(OWN_CODE) and f"{module}.{name}" == target


def trusted_config(path: Path, cfg: DictConfig) -> DictConfig:
    """A run dir's ``config.yaml``, refused when it could make ``generate`` run code of its
    choosing: an interpolation (a run saves its config resolved, so ``${...}``, which a resolver
    could turn into a ``_target_`` after this check, has no business there), or a ``_target_`` or
    generator ``family`` (which building the generator imports and calls) that is neither a
    class or function of this package nor named by the requested config too."""
    try:
        text = path.read_text()
        loaded = OmegaConf.create(text)  # the file read once
        names = dict(_code_names(OmegaConf.to_container(loaded, resolve=False)))
    except Exception as err:
        raise UserError(f"cannot read {path} ({type(err).__name__}: {err})") from None
    if "${" in text:
        raise UserError(
            f"{path} holds an interpolation (${{...}}); a run saves its config resolved: refused"
        )
    known = {v for _, v in _code_names(OmegaConf.to_container(cfg, resolve=False))}
    for key, target in names.items():
        if target not in known and not _own_code(target):
            raise UserError(
                f"{path} names code outside imbalance_gan ({key}: {target}) that this config "
                "does not: refused, as building it would run that code"
            )
    return loaded


def trained_source(cfg: DictConfig) -> tuple[Path, DictConfig, list[int]]:
    """The finished GAN run to draw from, its config and its minority classes."""
    if cfg.run is not None:
        source = Path(str(cfg.run))
        if not (source / "checkpoints" / "best.ckpt").is_file():
            raise UserError(f"{source} holds no checkpoints/best.ckpt: not a trained GAN run")
        for name in ("config.yaml", record.RECORD_FILE):
            if not (source / name).is_file():
                raise UserError(f"{source} holds no {name}: not a finished GAN run")
        gan_cfg = trusted_config(source / "config.yaml", cfg)
    else:
        source, gan_cfg = cache.entry_dir(cfg), cfg
        if not cache.is_finished(source):
            raise UserError(
                f"no finished {cfg.gan.name} GAN in {Path(cfg.paths.artifact_dir) / 'gan'} for "
                "this data/GAN config/seed; train it first with python -m imbalance_gan.train "
                "and the same overrides, or pass run=<a train run dir>"
            )
    run = record.read(source / record.RECORD_FILE)
    if run.get("kind") != "gan":
        raise UserError(f"{source} is not a GAN run (its record is of kind {run.get('kind')!r})")
    return source, gan_cfg, [int(c) for c in run["minority_classes"]]


def generate(cfg: DictConfig, out: Path) -> dict:
    """Draw ``cfg.n`` images of ``cfg.classes`` (default: the GAN's minority classes) with noise
    seed ``cfg.seed`` into ``out``; returns what was written."""
    n = int(cfg.n)
    if n < 1:
        raise UserError(f"n={cfg.n} must be at least 1")
    source, gan_cfg, minority = trained_source(cfg)
    model = load_generator(gan_cfg, source, minority)
    classes = minority if cfg.classes is None else [int(c) for c in cfg.classes]
    num_classes = int(gan_cfg.data.num_classes)
    allowed = range(num_classes) if model.conditional else minority
    wrong = [c for c in classes if c not in allowed]
    if wrong or not classes:
        raise UserError(
            f"classes={classes}: this {gan_cfg.gan.name} GAN makes classes {list(allowed)}"
        )
    fake = model.sample(n, classes, seed=int(cfg.seed))
    images, labels = as_synthetic(fake, cycled_labels(classes, n))
    savez(out / "generated.npz", images=images.numpy(), labels=labels.numpy())
    grid = make_grid(images[:100].float() / 255.0, nrow=10, pad_value=1.0)
    atomic_write(out / "generated.png", lambda f: save_image(grid, f, format="png"))
    return {"n": n, "classes": classes, "source": str(source)}
