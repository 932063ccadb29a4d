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
import re
import secrets
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
#: of a key, so nets trained before they took their size keep their keys
IMPLIED_NET_KEYS = ("img_size",)
#: the token that names a claim (and its takeover file)
TOKEN = re.compile(r"[0-9a-f]{16}")


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
    """An exclusive claim on building one cache entry; a claim whose owner died is taken over.

    The claim is the file ``.{entry}.lock`` beside the entry: the owner's pid, host, time and a
    random token that names this one claim. A claim is stale when its pid is gone (same host),
    when it is older than ``stale_after_s`` (another host: its pid cannot be checked), or when
    it cannot be read for ``unreadable_after_s`` (a crash mid-write).

    The protocol, in which the lock file is never removed by anyone but its owner:

    - acquire: create the lock file with ``O_EXCL``; only one process can.
    - take over a stale claim ``t``: ``O_EXCL``-create ``.{entry}.lock.{t}.next`` holding your
      own claim. Only one waiter can: ``t``'s successor. The others read the claim in that file
      and judge it in turn (alive: wait; dead as well: take over from it the same way, so a
      successor that dies mid-takeover is a chain, not a deadlock).
    - the successor then reads the lock file again. Still ``t``: it owns the entry, puts its
      claim there with ``os.replace`` (atomic, the lock file never goes missing, so no ``O_EXCL``
      acquire slips in) and then removes the ``.next`` files. Not ``t`` any more: someone
      finished this takeover first and removed the ``.next`` file that was re-created here too
      late, so it removes that file and has lost.

    Why a waiter cannot break a live claim: A and B both judge ``t`` stale; B takes over and
    writes its claim. When A acts, either ``t``'s ``.next`` file is still there (A fails to
    create it, reads B's live claim in it and waits) or B has removed it, after replacing
    ``t`` (A creates it, finds the lock file holds B's claim, not ``t``, and backs off). Tokens
    are never reused, so a replaced ``t`` never comes back. Only a claim judged stale wrongly
    (a live owner on another host past ``stale_after_s``) can be broken.

    ``poll_s``: how often a waiting process looks again. Configured as ``paths.cache``
    (conf/paths/).
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
        self.token: str | None = None  # the claim this process holds

    def try_acquire(self) -> bool:
        """Claim the entry, or take over a stale claim; ``False`` while a live one holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mine = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "time": time.time(),
            "token": secrets.token_hex(8),
        }
        for _ in range(3):  # the claim may be released between two looks: look again
            if _create(self.path, mine):
                self.token = mine["token"]
                return True
            root = self._read(self.path)
            if root is None:
                continue
            won = self._take_over(root, mine)
            if won is not None:
                return won
        return False

    def _take_over(self, root: tuple[str, bool], mine: dict) -> bool | None:
        """Follow the chain from the claim ``root`` (identity, stale) in the lock file; ``None``
        when the chain changed under us (look again)."""
        current, walked = root, []
        while True:
            identity, stale = current
            if not stale:
                return False
            successor = self.path.with_name(f"{self.path.name}.{identity}.next")
            if successor in walked:  # a garbled chain that loops: never ours to break
                return False
            if _create(successor, mine):
                if self._identity() != root[0]:  # taken over and replaced already: lost
                    successor.unlink(missing_ok=True)
                    return False
                claim = self.path.with_name(f"{self.path.name}.{mine['token']}.claim")
                claim.write_text(json.dumps(mine))
                os.replace(claim, self.path)
                for done in [*walked, successor]:
                    done.unlink(missing_ok=True)
                self.token = mine["token"]
                return True
            walked.append(successor)
            current = self._read(successor)
            if current is None:
                return None

    def _identity(self) -> str | None:
        """The identity of the claim in the lock file now (``None``: there is none)."""
        found = self._read(self.path)
        return None if found is None else found[0]

    def _read(self, path: Path) -> tuple[str, bool] | None:
        """The claim in ``path``: its identity (its token) and whether it is stale."""
        try:
            with open(path, "rb") as f:
                raw, st = f.read(), os.fstat(f.fileno())
        except FileNotFoundError:
            return None
        try:
            owner = json.loads(raw)
            owner["pid"]
        except (ValueError, TypeError, KeyError):
            # a claim being written now, or a crash mid-write: named by its file, judged by age
            return f"i{st.st_ino}", time.time() - st.st_mtime > self.unreadable_after_s
        token = str(owner.get("token", ""))
        if not TOKEN.fullmatch(token):  # a claim of older code: named by its content and file
            token = hashlib.sha256(raw + str(st.st_ino).encode()).hexdigest()[:16]
        return token, self._is_stale(owner)

    def _is_stale(self, owner: dict) -> bool:
        if owner.get("host") == socket.gethostname():
            try:
                os.kill(int(owner["pid"]), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, ValueError, OverflowError):
                return False
            return False
        return time.time() - float(owner.get("time", 0)) > self.stale_after_s

    def release(self) -> None:
        """Give up the claim; one taken over meanwhile (judged dead wrongly) is left alone."""
        if self.token is not None and self._identity() == self.token:
            self.path.unlink(missing_ok=True)
        self.token = None


def _create(path: Path, claim: dict) -> bool:
    """Create ``path`` holding ``claim`` unless it exists (``O_EXCL``: one process wins)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(claim, f)
    return True


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
    marker: str = GAN_MARKER,
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
    """The finished GAN entry for ``cfg``, built with ``build(partial_dir)`` if nobody has."""
    entry = entry_dir(cfg)
    settings = cfg.paths.get("cache") or {}
    return build_once(
        entry, build, GAN_MARKER, bool(cfg.get("resume", False)), EntryLock(entry, **settings)
    )
