"""Build-once caches: a trained GAN (or feature network) is reused by every run that needs it.

An entry is a directory; it is finished only when its marker file exists (written last: a GAN's
``metrics.json``, a feature network's ``net.pt``). Entries are built in a temporary directory and
renamed into place, so a reader never sees half an entry; a lock file with the owner's pid and
host keeps two processes from building the same entry, and a lock whose owner died is taken over.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from imbalance_gan import record
from imbalance_gan.data import build_datamodule
from imbalance_gan.generators.family import FIRST_FAMILY

#: trainer keys that change what is computed (limits in smoke runs, precision)
TRAINER_KEYS = ("limit_train_batches", "precision")
#: the file whose presence marks a finished GAN entry: its run record, written last
GAN_MARKER = record.RECORD_FILE
#: generator keys that only hold a profile's budget (``quick``): what they set is in the
#: resolved keys (``max_steps``, ...), so they are no part of the key
PROFILE_KEYS = ("quick",)
#: selection keys that only label a finished GAN (the quality floor), not how it is trained
LABEL_KEYS = ("recall_floor", "minority_share_floor")
#: net arguments that repeat ``data.image_shape``'s sides, which the data identity holds: no part
#: of a key, so nets trained before they took their size (issue 23) keep their keys
IMPLIED_NET_KEYS = ("img_size",)


def config_hash(blob: dict) -> str:
    """A short, stable hash of plain config values."""
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def data_key(cfg_data: DictConfig) -> dict:
    """The data module's identity: what decides which images a model sees (nothing is loaded)."""
    return build_datamodule(cfg_data).identity()


def net_key(node):
    """Plain config values without the arguments of nets (``_target_`` nodes) that the data implies."""
    if isinstance(node, dict):
        implied = IMPLIED_NET_KEYS if "_target_" in node else ()
        return {k: net_key(v) for k, v in node.items() if k not in implied}
    if isinstance(node, list):
        return [net_key(v) for v in node]
    return node


def cache_key(cfg: DictConfig) -> str:
    """Hash of everything that determines a trained GAN: data selection, GAN, selection, seed."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    return config_hash(
        {
            "data": data_key(cfg.data),
            "gan": {
                k: net_key(v)
                for k, v in resolved["gan"].items()
                # the first family stays out, so GANs cached before gan.family existed are found
                if k not in PROFILE_KEYS and not (k == "family" and v == FIRST_FAMILY)
            },
            "selection": {
                k: net_key(v) for k, v in resolved["selection"].items() if k not in LABEL_KEYS
            },
            "trainer": {k: resolved["trainer"].get(k) for k in TRAINER_KEYS},
            "seed": resolved["seed"],
        }
    )


def entry_dir(cfg: DictConfig) -> Path:
    """Where the finished GAN for ``cfg`` lives (or will)."""
    return Path(cfg.paths.artifact_dir).resolve() / "gan" / f"{cfg.gan.name}-{cache_key(cfg)}"


def is_finished(entry: Path, marker: str = GAN_MARKER) -> bool:
    """A finished entry has its marker file; nothing else counts."""
    return (entry / marker).is_file()


def publish(cfg: DictConfig, run_dir: Path) -> Path:
    """Copy a finished GAN run into the cache (atomically); keep an existing finished entry."""
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
    """An exclusive claim on building one cache entry; stale claims (dead owner) are broken.

    ``poll_s``: how often a waiting process looks again; ``stale_after_s``: the age after which
    a claim from another host counts as dead; ``unreadable_after_s``: the same for a claim file
    that cannot be read (a crash mid-write). Configured as ``paths.cache`` (conf/paths/).
    """

    def __init__(
        self,
        entry: Path,
        poll_s: float = 2.0,
        stale_after_s: float = 6 * 3600,
        unreadable_after_s: float = 60.0,
    ) -> None:
        self.path = entry.with_name(f".{entry.name}.lock")
        self.poll_s = float(poll_s)
        self.stale_after_s = float(stale_after_s)
        self.unreadable_after_s = float(unreadable_after_s)

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
                return time.time() - self.path.stat().st_mtime > self.unreadable_after_s
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


def build_once(
    entry: Path,
    build: Callable[[Path], None],
    marker: str = GAN_MARKER,
    resume: bool = False,
    lock: EntryLock | None = None,
) -> Path:
    """The finished ``entry``; calls ``build(partial_dir)`` to make it if nobody has.

    While another live process builds the same entry, waits for it; if that process dies, takes
    over the claim and builds it here. The partial dir has a fixed name, so with ``resume`` a
    build interrupted earlier continues from its checkpoint. ``lock``: the claim's settings
    (default: :class:`EntryLock`'s).
    """
    lock = lock or EntryLock(entry)
    while not is_finished(entry, marker):
        if lock.try_acquire():
            try:
                if is_finished(entry, marker):
                    break
                tmp = entry.with_name(f".{entry.name}.partial")
                if not resume:
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


def get_or_build(cfg: DictConfig, build: Callable[[Path], None]) -> Path:
    """The finished GAN entry for ``cfg``, built with ``build(partial_dir)`` if nobody has."""
    entry = entry_dir(cfg)
    settings = cfg.paths.get("cache") or {}
    return build_once(
        entry, build, GAN_MARKER, bool(cfg.get("resume", False)), EntryLock(entry, **settings)
    )
