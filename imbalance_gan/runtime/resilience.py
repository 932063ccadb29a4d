"""Surviving interruptions: atomic checkpoints, exact resume, and clean preemption.

A run checkpoints ``last.ckpt`` (atomically) on an interval of steps or wall-clock seconds
(``trainer.checkpoint_every_n_steps`` / ``trainer.checkpoint_every_s``), at a step boundary, and
at the end of training; a classifier also at every epoch end. A checkpoint holds the data
position and the random state, so a run killed outright (SIGKILL, a crash) loses at most one
interval. On SIGTERM (what clusters send before killing a job) or SIGINT it checkpoints at the
next step boundary and exits with :data:`EXIT_PREEMPTED`. Started again with ``resume=true`` a
run continues exactly where its checkpoint left it.

In a submitit job (``hydra/launcher=slurm``) the requeue signal (SIGUSR2 before a time limit or
a preemption) is handled the same way first: the checkpoint at the next step boundary is saved,
and only then is submitit's handler called, which requeues the job and exits; the requeued job
(always ``resume=true`` on a cluster) continues from that checkpoint.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import signal
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from imbalance_gan.runtime.errors import Preempted, UserError
from imbalance_gan.runtime.files import atomic_write

log = logging.getLogger("imbalance_gan")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints go to a temporary name and are renamed: a crash leaves the previous one. Every
    checkpoint Lightning loads (``fit/test/validate(ckpt_path=...)``) is read weights-only,
    whatever the caller asked: a file planted in a run dir cannot run code."""

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
        atomic_write(Path(path), lambda f: torch.save(checkpoint, f))

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load_weights_only(Path(path), map_location or "cpu")


def check_archive(path: Path) -> None:
    """Refuse, before ``torch.load`` inflates anything, a file that is not a regular file (a
    link to ``/dev/zero`` never ends) or a zip archive with compressed members: torch writes its
    archives stored, so a member that inflates is a bomb (a 1 MB file asked for 2.3 GB)."""
    if not Path(path).is_file():
        raise UserError(f"cannot read {path}: not a regular file")
    if not zipfile.is_zipfile(path):
        return  # torch's legacy format, read weights-only like the rest
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise UserError(f"cannot read {path} as a weights-only file ({err})") from None
    for m in members:
        if m.file_size > m.compress_size + 2**20:
            raise UserError(
                f"refused {path}: its member {m.filename} inflates {m.compress_size} bytes to "
                f"{m.file_size} (torch stores its members uncompressed)"
            )


def load_weights_only(path: Path, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, on the CPU unless told, after
    :func:`check_archive`; a file that holds anything but tensors and plain types (a pickle
    that would run code), or no checkpoint at all, is a UserError naming it."""
    check_archive(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(
            f"refused {path}: it holds objects a weights-only load does not allow (unpickling "
            "them could run code); only tensors and plain types are read"
        ) from None
    except Exception as err:
        first = f"{type(err).__name__}: {err}".strip().splitlines()[0]
        raise UserError(f"cannot read {path} as a weights-only file ({first})") from None


def rng_state() -> dict:
    """Python, NumPy and torch random states, as plain types (checkpoints load weights-only)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.copy()), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(
        tuple(state["python"][:1]) + (tuple(state["python"][1]),) + tuple(state["python"][2:])
    )
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumeCallback(pl.Callback):
    """Writes ``ckpt_path`` every ``every_n_steps`` training batches or ``every_s`` seconds
    (whichever comes first; ``None`` turns either off), saves the random state and the run's
    time so far with every checkpoint, and turns SIGTERM/SIGINT into a checkpoint at the next
    step boundary followed by :class:`Preempted`.

    It is the trainer's last callback, so an interval checkpoint holds what every other callback
    did at that step (a selection score included). ``resumed_s`` is the time earlier attempts of
    a resumed run had spent up to their last checkpoint (0 for a fresh run), so wall times add
    up across interruptions.
    """

    def __init__(
        self,
        ckpt_path: Path,
        started: float | None = None,
        every_n_steps: int | None = None,
        every_s: float | None = None,
    ) -> None:
        """``started``: when this attempt began (``time.perf_counter()``; default: now), so that
        the time before training (data, generators) counts too."""
        self.ckpt_path = Path(ckpt_path)
        self.every_n_steps = None if every_n_steps is None else max(1, int(every_n_steps))
        self.every_s = None if every_s is None else float(every_s)
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}
        self._batches = 0
        self._started = time.perf_counter() if started is None else started
        # (batches, clock) of the last interval checkpoint
        self._saved_at = (0, time.perf_counter())
        self.resumed_s = 0.0
        self._stopped_at: list[int] | None = None  # [epoch, batches done] of a mid-epoch stop

    def state_dict(self) -> dict:
        elapsed = self.resumed_s + time.perf_counter() - self._started
        return {"rng": rng_state(), "elapsed_s": elapsed, "stopped_at": self._stopped_at}

    def load_state_dict(self, state: dict) -> None:
        set_rng_state(state["rng"])
        self.resumed_s = float(state.get("elapsed_s", 0.0))
        if state.get("stopped_at"):
            epoch, batches = state["stopped_at"]
            log.info(
                "resuming from the checkpoint of a stop in epoch %d after %d batches: %s",
                epoch,
                batches,
                self.ckpt_path,
            )

    def _handler(self, signum: int, frame: Any) -> None:
        self.requested = signum

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handler)
        requeue = requeue_signal()
        if callable(signal.getsignal(requeue)):  # submitit's requeue handler: ours goes first
            self._previous[requeue] = signal.signal(requeue, self._handler)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._batches += 1
        if self.requested is not None:
            self._stopped_at = [trainer.current_epoch, batch_idx + 1]
            self._save(trainer, batch_idx)
            self._stop()
        if self._due():
            self._save(trainer, batch_idx)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.requested is not None:
            self._save(trainer)
            self._stop()

    def _due(self) -> bool:
        batches, clock = self._saved_at
        if self.every_n_steps is not None and self._batches - batches >= self.every_n_steps:
            return True
        return self.every_s is not None and time.perf_counter() - clock >= self.every_s

    def _save(self, trainer: pl.Trainer, batch_idx: int | None = None) -> None:
        """Checkpoint now; after batch ``batch_idx`` the loader's position is that batch's end
        (Lightning's fetcher may already have drawn the next one)."""
        loader = trainer.train_dataloader
        if batch_idx is not None and hasattr(loader, "consumed"):
            loader.consumed = batch_idx + 1
        self.ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(str(self.ckpt_path), weights_only=False)
        self._saved_at = (self._batches, time.perf_counter())

    def _stop(self) -> None:
        handler = self._previous.get(self.requested)
        if self.requested == requeue_signal() and callable(handler):
            # submitit's handler: requeue the job (same overrides, resume=true) and exit
            handler(self.requested, None)
        name = signal.Signals(self.requested).name
        raise Preempted(
            f"{name} received: checkpoint saved to {self.ckpt_path}; run the same "
            "command with resume=true to continue"
        )


def requeue_signal() -> signal.Signals:
    """The signal submitit requeues a SLURM job on (``SUBMITIT_PREEMPT_SIGNAL``, default USR2)."""
    return signal.Signals["SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")]


def resumed_seconds(trainer: pl.Trainer) -> float:
    """Seconds earlier attempts of this run spent before the checkpoint it resumed from."""
    return sum(cb.resumed_s for cb in trainer.callbacks if isinstance(cb, ResumeCallback))


def check_checkpoint(path: Path, module: torch.nn.Module) -> None:
    """Refuse a checkpoint whose weights do not fit ``module`` (another architecture or config)."""
    checkpoint = load_weights_only(path)
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise UserError(f"{path} holds no Lightning checkpoint (no state_dict)")
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own.keys() & state.keys() if tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        detail = (missing or unexpected or wrong)[:3]
        raise UserError(
            f"checkpoint {path} does not fit this model (different architecture or config; "
            f"e.g. {detail}); use another output dir or resume=false"
        )
