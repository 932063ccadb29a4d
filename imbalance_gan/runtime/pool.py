"""Several runs at once on one machine: a pool of worker processes (started fresh, ``spawn``),
each with its own number of torch threads, for a study's ``study.jobs``.

A worker runs library functions only (``classifier.pipeline.run_one``,
``generators.pipeline.generator_for_run``): nothing it unpickles names a command.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import torch

#: the log line format of Hydra's console logging, so worker lines look like the study's own
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


def available_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int, threads: int | None = None) -> int:
    """Torch threads for each of ``jobs`` runs at once: ``threads``, or the cores shared out."""
    return int(threads) if threads else max(1, available_cores() // max(1, int(jobs)))


def _start_worker(threads: int, level: int, log_files: Sequence[str]) -> None:
    # Ctrl-C is the parent's to handle: it stops the workers with SIGTERM, on which a training
    # run checkpoints at its next step and exits (runtime/resilience.py)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    handlers += [logging.FileHandler(f) for f in log_files]  # the study's own log file
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)


def _call(fn: Callable, args: tuple) -> tuple[bool, Any]:
    """``fn(*args)`` in a worker: (True, its value) or (False, its error in one line)."""
    try:
        return True, fn(*args)
    except Exception as err:  # a worker reports; the caller decides
        return False, f"{type(err).__name__}: {err}".splitlines()[0]


def _log_files() -> list[str]:
    """The files this process logs to (Hydra's ``<output dir>/<command>.log``)."""
    return [
        h.baseFilename for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)
    ]


def run_pool(
    fn: Callable,
    calls: Sequence[tuple],
    jobs: int,
    threads: int,
    on_done: Callable[[int, bool, Any], None],
) -> None:
    """Run ``fn(*args)`` for every ``args`` of ``calls`` in ``jobs`` worker processes of
    ``threads`` torch threads each; ``on_done(index, ok, value)`` is called in this process as
    each finishes (``value``: the result, or the error's line when ``ok`` is False; a worker
    that died, killed or out of memory, fails its call).

    Ctrl-C (KeyboardInterrupt here) cancels what has not started and sends the workers SIGTERM,
    so a run in training checkpoints and exits (``resume=true`` continues it); then it is raised
    again."""
    if not calls:
        return
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger("imbalance_gan").getEffectiveLevel()
    pool = ProcessPoolExecutor(
        max_workers=min(int(jobs), len(calls)),
        mp_context=context,
        initializer=_start_worker,
        initargs=(int(threads), level, _log_files()),
    )
    try:
        futures = {pool.submit(_call, fn, tuple(args)): i for i, args in enumerate(calls)}
        for future in as_completed(futures):
            try:
                ok, value = future.result()
            except BrokenProcessPool as err:
                ok, value = False, f"its worker process died ({err})"
            on_done(futures[future], ok, value)
    except KeyboardInterrupt:
        workers = list((pool._processes or {}).values())  # noqa: SLF001 - no public handle
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            if process.is_alive():
                process.terminate()  # SIGTERM: checkpoint at the next step, then exit
        for process in workers:
            process.join(timeout=120)
        raise
    pool.shutdown(wait=True)
