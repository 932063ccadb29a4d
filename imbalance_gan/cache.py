"""The GAN cache: a trained GAN is reused by every run with the same data, GAN config and seed.

An entry is a directory ``<artifact_dir>/gan/<name>-<key>``; it is finished only when its
``metrics.json`` exists (written last). Entries are built in a temporary directory and renamed
into place, so a reader never sees half an entry; a lock file with the owner's pid and host
keeps two processes from training the same GAN, and a lock whose owner died is taken over.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

#: data keys that change which images a GAN sees (root, device placement and download do not)
DATA_KEYS = (
    "dataset",
    "minority_classes",
    "minority_count",
    "class_counts",
    "val_fraction",
    "seed",
    "num_classes",
    "image_shape",
)
#: trainer keys that change what is computed (limits in smoke runs, precision)
TRAINER_KEYS = ("limit_train_batches", "precision")


def cache_key(cfg: DictConfig) -> str:
    """Hash of everything that determines a trained GAN: data selection, GAN, selection, seed."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    blob = {
        "data": {k: resolved["data"].get(k) for k in DATA_KEYS},
        "gan": resolved["gan"],
        "selection": resolved["selection"],
        "trainer": {k: resolved["trainer"].get(k) for k in TRAINER_KEYS},
        "seed": resolved["seed"],
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def entry_dir(cfg: DictConfig) -> Path:
    """Where the finished GAN for ``cfg`` lives (or will)."""
    return Path(cfg.paths.artifact_dir).resolve() / "gan" / f"{cfg.gan.name}-{cache_key(cfg)}"


def is_finished(entry: Path) -> bool:
    """A finished entry has its ``metrics.json``; nothing else counts."""
    return (entry / "metrics.json").is_file()


def publish(cfg: DictConfig, run_dir: Path) -> Path:
    """Copy a finished run into the cache (atomically); keep an existing finished entry."""
    entry = entry_dir(cfg)
    if is_finished(entry) or not is_finished(run_dir):
        return entry
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    shutil.copytree(run_dir, tmp, ignore=shutil.ignore_patterns("last.ckpt", "tb"))
    try:
        os.rename(tmp, entry)
    except OSError:  # another process published first, or a stale unfinished entry is there
        if not is_finished(entry):
            shutil.rmtree(entry, ignore_errors=True)
            os.rename(tmp, entry)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return entry


class EntryLock:
    """An exclusive claim on building one cache entry; stale claims (dead owner) are broken."""

    def __init__(self, entry: Path, poll_s: float = 2.0, stale_after_s: float = 6 * 3600) -> None:
        self.path = entry.with_name(f".{entry.name}.lock")
        self.poll_s = poll_s
        self.stale_after_s = stale_after_s

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if self._is_stale():
                self.path.unlink(missing_ok=True)
                return self.try_acquire()
            return False
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}, f)
        return True

    def _is_stale(self) -> bool:
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            # unreadable: a claim being written right now, or a crash mid-write; judge by age
            try:
                return time.time() - self.path.stat().st_mtime > 60
            except OSError:
                return False
        if owner.get("host") == socket.gethostname():
            try:
                os.kill(int(owner["pid"]), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return time.time() - float(owner.get("time", 0)) > self.stale_after_s

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def get_or_build(cfg: DictConfig, build) -> Path:
    """The finished entry for ``cfg``; calls ``build(partial_dir)`` to make it if nobody has.

    While another live process builds the same entry, waits for it; if that process dies, takes
    over the claim and builds it here. The partial dir has a fixed name, so with
    ``cfg.resume`` a build interrupted earlier continues from its checkpoint.
    """
    entry = entry_dir(cfg)
    lock = EntryLock(entry)
    while not is_finished(entry):
        if lock.try_acquire():
            try:
                if is_finished(entry):
                    break
                tmp = entry.with_name(f".{entry.name}.partial")
                if not cfg.get("resume", False):
                    shutil.rmtree(tmp, ignore_errors=True)
                build(tmp)
                if entry.exists():  # an unfinished leftover: never taken as finished
                    shutil.rmtree(entry)
                os.rename(tmp, entry)
            finally:
                lock.release()
        else:
            time.sleep(lock.poll_s)
    return entry
