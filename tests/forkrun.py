"""Run many ``python -m imbalance_gan.<command> ...`` invocations cheaply: this process imports
the commands (and torch, Lightning, Hydra) once, then forks one child per invocation, which runs
the command's module as ``__main__`` with its own argv, working dir, environment and stdout /
stderr files, and exits with the command's own exit code. Each child is a fresh process image of
the preloaded parent, so it sees what ``python -m`` would (a command reads nothing the parent
did), at a fraction of the start-up cost; used by ``tests/test_bad_input.py``.

Reads a JSON list of jobs on stdin: ``{"module", "args", "cwd", "env", "stdout", "stderr"}``;
runs ``--jobs`` at a time; writes the exit codes, in order, as a JSON list on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys

COMMANDS = ("classify", "train", "study", "generate", "report")


def _child(job: dict) -> None:
    """In the forked child: become the command's process, run it, exit with its code."""
    code = 1
    try:
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 (the process's own streams)
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        sys.argv = [job["module"], *job["args"]]
        try:
            runpy.run_module(job["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except BaseException:  # as python -m would: the traceback on stderr, exit 1
            import traceback

            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run_all(jobs: list[dict], at_once: int) -> list[int]:
    """Fork a child per job, ``at_once`` alive at a time; their exit codes, in job order."""
    codes: list[int | None] = [None] * len(jobs)
    alive: dict[int, int] = {}
    pending = list(enumerate(jobs))
    while pending or alive:
        while pending and len(alive) < at_once:
            k, job = pending.pop(0)
            pid = os.fork()
            if pid == 0:
                _child(job)
            alive[pid] = k
        pid, status = os.wait()
        codes[alive.pop(pid)] = os.waitstatus_to_exitcode(status)
    return [int(c) for c in codes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    jobs = json.load(sys.stdin)
    # what every command imports before its work, loaded once here (no thread is started by
    # an import, so forking after them is safe)
    import pytorch_lightning  # noqa: F401
    import torch  # noqa: F401

    for name in COMMANDS:
        __import__(f"imbalance_gan.{name}")
    import imbalance_gan.classifier.pipeline  # noqa: F401
    import imbalance_gan.generators.pipeline  # noqa: F401

    print(json.dumps(run_all(jobs, args.jobs)))


if __name__ == "__main__":
    main()
