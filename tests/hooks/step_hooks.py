"""Test-only hooks into a run's training steps: a real SIGTERM at an exact step, or a fresh run
held at a step until a signal arrives. Production code knows nothing of them.

They wrap :meth:`ResumeCallback.on_train_batch_end` and act before it, as at the top of its
step: a SIGTERM sent there is seen by the same call, which checkpoints at that step and stops.
In-process tests use :func:`installed`; a subprocess (or a SLURM job it submits) gets them from
:func:`subprocess_env`, which puts this folder's ``sitecustomize.py`` on ``PYTHONPATH``. Plain
Python, no pytest, so that it also runs inside those processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: the variable through which a test hands its hooks to a subprocess; read only by
#: ``sitecustomize.py`` beside this file
ENV = "IMBALANCE_GAN_TEST_STEP_HOOKS"
HERE = Path(__file__).resolve().parent


def wrap(cls: type, sigterm_at_step: int | None = None, wait_at_step: int | None = None) -> Any:
    """``cls.on_train_batch_end`` (a ResumeCallback's), first counting the callback's batches:
    at batch ``sigterm_at_step`` it sends this process a real SIGTERM; at batch
    ``wait_at_step`` of a fresh run (not a resumed one) it writes ``waiting`` (pid and batch)
    beside the run's ``checkpoints/`` and waits, up to 600 s, until a signal reaches the
    callback's handler."""
    original = cls.on_train_batch_end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        done = self.__dict__.get("_hook_batches", 0) + 1
        self.__dict__["_hook_batches"] = done
        if done == sigterm_at_step:
            os.kill(os.getpid(), signal.SIGTERM)
        if done == wait_at_step and self.resumed_s == 0:
            _wait_for_signal(self, done)
        original(self, trainer, pl_module, outputs, batch, batch_idx)

    return on_train_batch_end


def _wait_for_signal(callback: Any, batches: int) -> None:
    marker = Path(callback.ckpt_path).parent.parent / "waiting"
    marker.write_text(f"{os.getpid()} {batches}\n")
    deadline = time.monotonic() + 600
    while callback.requested is None and time.monotonic() < deadline:
        time.sleep(0.05)
    marker.unlink(missing_ok=True)


@contextlib.contextmanager
def installed(sigterm_at_step: int | None = None, wait_at_step: int | None = None) -> Iterator:
    """The hooks on every ResumeCallback of this process, until the block ends."""
    from imbalance_gan.runtime.resilience import ResumeCallback

    original = ResumeCallback.on_train_batch_end
    ResumeCallback.on_train_batch_end = wrap(ResumeCallback, sigterm_at_step, wait_at_step)
    try:
        yield
    finally:
        ResumeCallback.on_train_batch_end = original


def subprocess_env(sigterm_at_step: int | None = None, wait_at_step: int | None = None) -> dict:
    """Environment entries that install the hooks in a Python subprocess and in the processes
    it starts with its environment (SLURM jobs: sbatch exports it), on top of ``os.environ``."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    hooks = {"sigterm_at_step": sigterm_at_step, "wait_at_step": wait_at_step}
    return {"PYTHONPATH": path, ENV: json.dumps(hooks)}
