"""What every entry point does around its model: output dir, seeding, the Trainer, logging."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger

from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import writable_dir, write_text
from imbalance_gan.runtime.progress import BudgetProgress
from imbalance_gan.runtime.resilience import AtomicCheckpointIO, ResumeCallback

log = logging.getLogger("imbalance_gan")

#: Keys of the trainer config that are ours, not Lightning's Trainer arguments.
OUR_TRAINER_KEYS = (
    "channels_last",
    "compile",
    "resources",
    "checkpoint_every_n_steps",
    "checkpoint_every_s",
)


def output_dir(cfg: DictConfig) -> Path:
    """The run's output dir, created and checked writable before any work starts; so is the
    artifact dir (the generator and feature-net cache) when the config has one."""
    try:
        out = Path(cfg.paths.output_dir)
    except Exception as err:  # ${hydra:...} outside a Hydra app
        raise UserError(
            f"paths.output_dir cannot be resolved ({err}); set paths.output_dir=..."
        ) from None
    if cfg.paths.get("artifact_dir"):
        writable_dir(cfg.paths.artifact_dir, "paths.artifact_dir")
    return writable_dir(out, "output dir")


def save_config(cfg: DictConfig, out: Path) -> None:
    """Record the full resolved config of the run (``config.yaml``)."""
    write_text(out / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))


def seed_all(seed: int) -> None:
    """One seed for Python, NumPy and torch (initialization, dropout, sampling)."""
    pl.seed_everything(int(seed), workers=True, verbose=False)


def build_trainer(
    cfg_trainer: DictConfig,
    out: Path,
    max_epochs: int,
    callbacks: list[pl.Callback],
    name: str = "tb",
    progress: BudgetProgress | None = None,
    started: float | None = None,
) -> pl.Trainer:
    """A Lightning Trainer from the ``trainer`` config, logging to TensorBoard under ``out``.

    ``progress`` replaces Lightning's per-epoch bar (when ``trainer.enable_progress_bar``);
    ``started`` is when the run's attempt began (``Timer.start``), for its wall time."""
    kwargs: dict[str, Any] = {
        k: v
        for k, v in OmegaConf.to_container(cfg_trainer, resolve=True).items()
        if k not in OUR_TRAINER_KEYS
    }
    if kwargs.get("accelerator") == "gpu" and not torch.cuda.is_available():
        raise UserError("trainer=gpu but no CUDA GPU is visible; use trainer=cpu")
    # Lightning's own checkpoint callback only where the caller brings none: a generator's
    # selection callback writes best/last itself, and a second 11 MB file per epoch costs time
    # and disk
    kwargs.setdefault(
        "enable_checkpointing", any(isinstance(c, ModelCheckpoint) for c in callbacks)
    )
    logger = TensorBoardLogger(save_dir=str(out), name=name, version="", default_hp_metric=False)
    resume = ResumeCallback(
        out / "checkpoints" / "last.ckpt",
        started=started,
        every_n_steps=cfg_trainer.get("checkpoint_every_n_steps"),
        every_s=cfg_trainer.get("checkpoint_every_s"),
    )
    extra = [progress] if progress is not None and kwargs.get("enable_progress_bar", True) else []
    plugins: list[Any] = [AtomicCheckpointIO()]
    if SLURMEnvironment.detect():
        # requeueing is submitit's (hydra/launcher=slurm) and checkpointing ResumeCallback's;
        # Lightning's own SLURM requeue would save a second kind of checkpoint on SIGUSR1
        plugins.append(SLURMEnvironment(auto_requeue=False))
    return pl.Trainer(
        max_epochs=int(max_epochs),
        logger=logger,
        callbacks=[*callbacks, *extra, resume],
        plugins=plugins,
        default_root_dir=str(out),
        **kwargs,
    )


def hardware() -> str:
    """A one-line description of the machine: CPU model, threads, GPU, torch version."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} threads, {gpu}, torch {torch.__version__}"


class Timer:
    """Wall time since construction, in seconds."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
