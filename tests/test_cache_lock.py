"""The build-once cache's lock: a dead owner's claim is taken over by exactly one waiter, and a
builder that takes over may continue the dead owner's partial build (issue 36)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imbalance_gan.generators import cache

from .conftest import run_processes

WAITERS, TRIALS = 6, 150
#: fast polling and a build long enough for the waiters to find the claim taken
POLL_S, BUILD_S = 0.005, 0.01


def _dead_pid() -> int:
    """The pid of a process that has exited (nothing on this host has it now)."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def _write_claim(entry: Path, pid: int, host: str | None = None, age_s: float = 0.0) -> Path:
    """A claim file as an owner writes it (without a token: as older code wrote them too)."""
    lock = cache.EntryLock(entry).path
    lock.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname() if host is None else host
    lock.write_text(json.dumps({"pid": pid, "host": host, "time": time.time() - age_s}))
    return lock


def _count_build(log: Path, tmp: Path) -> None:
    """A build that leaves a line per call in ``log`` and a finished entry in ``tmp``."""
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    tmp.mkdir(parents=True)
    time.sleep(BUILD_S)
    (tmp / "metrics.json").write_text(json.dumps({"builder": os.getpid()}))


def _waiter(base: str, barrier, worker: int) -> None:
    """One waiter process: every trial, all waiters ask for the entry at once."""
    errors = []
    for trial in range(TRIALS):
        root = Path(base) / f"trial{trial}"
        entry = root / "cache" / "entry"
        barrier.wait(60)
        try:
            cache.build_once(
                entry,
                lambda tmp, log=root / "builds": _count_build(log, tmp),
                lock=cache.EntryLock(entry, poll_s=POLL_S),
            )
        except Exception as err:  # reported to the test, which names the trial
            errors.append([trial, f"{type(err).__name__}: {err}"])
    (Path(base) / f"errors-{worker}.json").write_text(json.dumps(errors))


def test_dead_owner_with_many_waiters_is_built_exactly_once(tmp_path):
    dead = _dead_pid()
    for trial in range(TRIALS):
        _write_claim(tmp_path / f"trial{trial}" / "cache" / "entry", dead)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    barrier = ctx.Barrier(WAITERS)
    procs = [ctx.Process(target=_waiter, args=(str(tmp_path), barrier, w)) for w in range(WAITERS)]
    assert run_processes(procs) == [0] * WAITERS
    errors = [
        e for w in range(WAITERS) for e in json.loads((tmp_path / f"errors-{w}.json").read_text())
    ]
    builds = {
        t: len((tmp_path / f"trial{t}" / "builds").read_text().split()) for t in range(TRIALS)
    }
    twice = {t: n for t, n in builds.items() if n != 1}
    assert not twice and not errors, f"built more than once: {twice}; crashed: {errors}"
    for trial in range(TRIALS):
        entry = tmp_path / f"trial{trial}" / "cache" / "entry"
        assert cache.is_finished(entry, "metrics.json")
        # no lock, no claim of a takeover, no partial folder left behind
        assert os.listdir(entry.parent) == ["entry"]


def _token_claim(entry: Path, pid: int, token: str) -> Path:
    """A claim of this code's shape (with its token) in the lock file of ``entry``."""
    lock = _write_claim(entry, pid)
    lock.write_text(json.dumps({**json.loads(lock.read_text()), "token": token}))
    return lock


def test_waiter_that_judged_a_claim_stale_late_does_not_break_the_new_owners_claim(tmp_path):
    """A and B both find the dead owner's claim stale; B takes over first; then A acts."""
    entry = tmp_path / "entry"
    lock = _write_claim(entry, _dead_pid())
    a, b = cache.EntryLock(entry), cache.EntryLock(entry)
    judge, b_won = a._is_stale, []

    def judge_then_let_b_take_over(owner: dict) -> bool:
        stale = judge(owner)
        if not b_won:
            b_won.append(b.try_acquire())
        return stale

    a._is_stale = judge_then_let_b_take_over
    assert a.try_acquire() is False
    assert b_won == [True]
    assert json.loads(lock.read_text())["token"] == b.token  # B's claim, untouched by A
    assert os.listdir(tmp_path) == [lock.name]  # no takeover file left behind
    a.release()  # A holds nothing: B's claim stays
    assert lock.exists()
    b.release()
    assert not lock.exists()


def test_waiter_waits_for_a_live_process_in_the_middle_of_taking_over(tmp_path):
    entry = tmp_path / "entry"
    lock = _token_claim(entry, _dead_pid(), "a" * 16)
    successor = lock.with_name(f"{lock.name}.{'a' * 16}.next")
    successor.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    dead_claim = lock.read_text()
    assert cache.EntryLock(entry).try_acquire() is False
    assert lock.read_text() == dead_claim and successor.exists()


def test_takeover_by_a_process_that_died_half_way_is_taken_over_in_turn(tmp_path):
    entry = tmp_path / "entry"
    dead = _dead_pid()
    lock = _token_claim(entry, dead, "a" * 16)
    successor = lock.with_name(f"{lock.name}.{'a' * 16}.next")
    successor.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "token": "b" * 16}))
    taker = cache.EntryLock(entry)
    assert taker.try_acquire() is True
    assert json.loads(lock.read_text())["token"] == taker.token
    assert os.listdir(tmp_path) == [lock.name]


@pytest.mark.parametrize("leftover", [".entry.4242.0badcafe.partial", ".entry.partial"])
@pytest.mark.parametrize("resume", [True, False])
def test_builder_that_takes_over_resumes_the_dead_owners_partial_build(tmp_path, leftover, resume):
    """With ``resume`` the dead owner's partial dir (of this code or of the fixed name older
    code used) is adopted under the new builder's own name; without, it is thrown away."""
    entry = tmp_path / "entry"
    _write_claim(entry, _dead_pid())
    (tmp_path / leftover / "checkpoints").mkdir(parents=True)
    (tmp_path / leftover / "checkpoints" / "last.ckpt").write_text("epoch 3")
    seen = []

    def build(tmp: Path) -> None:
        seen.append((tmp.name, (tmp / "checkpoints" / "last.ckpt").exists()))
        tmp.mkdir(exist_ok=True)
        (tmp / "metrics.json").write_text("{}")

    cache.build_once(entry, build, "metrics.json", resume, cache.EntryLock(entry, poll_s=POLL_S))
    ((name, continued),) = seen
    assert name.startswith(f".entry.{os.getpid()}.") and continued is resume
    assert os.listdir(tmp_path) == ["entry"]
    assert (entry / "checkpoints" / "last.ckpt").exists() is resume
