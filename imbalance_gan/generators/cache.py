"""Build-once caches: a trained generator (or feature network) serves every run that needs it.

An entry is a directory; it is finished only when its marker file exists (written last: a
generator's ``metrics.json``, a feature network's ``net.pt``). Entries are built in a temporary
directory and renamed into place, so a reader never sees half an entry; a lock file with the
owner's pid and host keeps two processes from building the same entry, and a lock whose owner
died is taken over.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from imbalance_gan import record
from imbalance_gan.data import build_data
from imbalance_gan.generators.family import FIRST_FAMILY
from imbalance_gan.generators.lock import EntryLock

#: trainer keys that change what is computed (limits in smoke runs, precision)
TRAINER_KEYS = ("limit_train_batches", "precision")
#: the file whose presence marks a finished generator entry: its run record, written last
GENERATOR_MARKER = record.RECORD_FILE
#: generator keys that only hold a profile's budget (``quick``): what they set is in the
#: resolved keys (``max_steps``, ...), so they are no part of the key
PROFILE_KEYS = ("quick",)
#: selection keys that only label a finished generator (the quality floor, and when its numbers
#: cannot judge it), not how it is trained
LABEL_KEYS = ("recall_floor", "minority_share_floor", "feature_recall_floor", "min_held_out")
#: net arguments that repeat ``data.image_shape``'s sides, which the data identity holds: no part
#: of a key, so nets trained before they took their size keep their keys
IMPLIED_NET_KEYS = ("img_size",)


def config_hash(blob: dict) -> str:
    """A short, stable hash of plain config values."""
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def data_key(cfg_data: DictConfig) -> dict:
    """The data's identity: what decides which images a model sees (nothing is loaded)."""
    return build_data(cfg_data).identity()


def net_key(node):
    """Plain config values without the arguments of nets (``_target_`` nodes) that the data implies."""
    if isinstance(node, dict):
        implied = IMPLIED_NET_KEYS if "_target_" in node else ()
        return {k: net_key(v) for k, v in node.items() if k not in implied}
    if isinstance(node, list):
        return [net_key(v) for v in node]
    return node


def cache_key(cfg: DictConfig) -> str:
    """Hash of what determines a trained generator: data selection, generator, selection, seed."""
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
    """Where the finished generator for ``cfg`` lives (or will)."""
    return Path(cfg.paths.artifact_dir).resolve() / "gan" / f"{cfg.gan.name}-{cache_key(cfg)}"


def is_finished(entry: Path, marker: str = GENERATOR_MARKER) -> bool:
    """A finished entry has its marker file; nothing else counts."""
    return (entry / marker).is_file()


def publish(cfg: DictConfig, run_dir: Path) -> Path:
    """Copy a finished generator run into the cache, atomically; never replace a finished entry."""
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


def _partials(entry: Path) -> list[Path]:
    """Partial builds of ``entry`` left by builders that died or failed, newest first."""
    found = [
        p
        for p in entry.parent.iterdir()
        if p.name.startswith(f".{entry.name}.") and p.name.endswith(".partial") and p.is_dir()
    ]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def build_once(
    entry: Path,
    build: Callable[[Path], None],
    marker: str = GENERATOR_MARKER,
    resume: bool = False,
    lock: EntryLock | None = None,
) -> Path:
    """The finished ``entry``; calls ``build(partial_dir)`` to make it if nobody has.

    While another live process builds the same entry, waits for it; if that process dies, takes
    over the claim and builds it here. Each builder builds in a partial dir of its own
    (``.{entry}.{pid}.{random}.partial``) renamed into place when finished. Holding the claim,
    it removes the partial dirs of earlier builders, or with ``resume`` adopts the newest one
    (renamed to its own name), so a build interrupted earlier continues from its checkpoint.
    ``lock``: the claim's settings (default: :class:`EntryLock`'s).
    """
    lock = lock or EntryLock(entry)
    while not is_finished(entry, marker):
        if not lock.try_acquire():
            time.sleep(lock.poll_s)
            continue
        try:
            if is_finished(entry, marker):
                break
            tmp = entry.with_name(f".{entry.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
            earlier = _partials(entry)
            if resume and earlier:
                os.rename(earlier.pop(0), tmp)
            for old in earlier:
                shutil.rmtree(old, ignore_errors=True)
            build(tmp)
            if is_finished(entry, marker):  # only if this claim was broken while building
                shutil.rmtree(tmp, ignore_errors=True)
                break
            if entry.exists():  # an unfinished leftover: never taken as finished
                shutil.rmtree(entry)
            os.rename(tmp, entry)
        finally:
            lock.release()
    return entry


def get_or_build(cfg: DictConfig, build: Callable[[Path], None]) -> Path:
    """The finished generator entry for ``cfg``, built with ``build(partial_dir)`` if nobody has."""
    entry = entry_dir(cfg)
    settings = cfg.paths.get("cache") or {}
    return build_once(
        entry, build, GENERATOR_MARKER, bool(cfg.get("resume", False)), EntryLock(entry, **settings)
    )
