"""The claim on building one cache entry (:class:`EntryLock`): a lock file beside the entry,
held by one process at a time, whose claim a dead owner's waiters take over atomically (the
protocol is in the class's docstring). :mod:`imbalance_gan.generators.cache` builds with it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import time
from pathlib import Path

#: the token that names a claim (and its takeover file)
TOKEN = re.compile(r"[0-9a-f]{16}")


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
