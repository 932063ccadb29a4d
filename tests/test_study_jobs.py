"""``study.jobs``: runs at once in worker processes give the numbers one process gives (at the
same torch threads per run), GANs are trained once, and a bad value is refused in one line."""

from __future__ import annotations

import csv
import json

import pytest

from .conftest import run_module

#: what may differ between two studies of the same runs: where and how long they ran
NOT_RESULTS = {"wall_time_s", "gan/wall_time_s", "run_dir", "gan_dir", "hardware"}


def _study(root, jobs: int) -> tuple[list[dict], str]:
    out = root / f"jobs{jobs}"
    proc = run_module(
        "imbalance_gan.study",
        "experiment=smoke",
        "study.scenarios=[original,cgan]",
        "study.seeds=[0,1]",
        f"study.jobs={jobs}",
        "study.threads=1",
        f"hydra.run.dir={out}",
        f"paths.artifact_dir={root / 'artifacts'}",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "results.csv") as f:
        rows = [{k: v for k, v in r.items() if k not in NOT_RESULTS} for r in csv.DictReader(f)]
    assert json.loads((out / "study.json").read_text())["jobs"] == jobs
    return sorted(rows, key=lambda r: (r["scenario"], r["seed"])), proc.stdout + proc.stderr


@pytest.mark.slow  # two smoke studies with two GANs each: over a minute of the 10-minute suite
def test_two_jobs_give_the_numbers_of_one(tmp_path):
    two, log = _study(tmp_path, 2)  # first: its workers train the GANs, through the cache lock
    assert "2 at a time with 1 torch threads each" in log
    # each GAN trained once, before the runs that use it, in its own cache entry
    assert (
        log.count("generator cgan seed 0 trained") == 1
        and log.count("generator cgan seed 1 trained") == 1
    )
    assert len(list((tmp_path / "artifacts" / "gan").glob("cgan-*"))) == 2
    one, log_one = _study(tmp_path, 1)  # the same GANs from the cache (a GAN is deterministic)
    assert "generator cgan seed 0 trained" not in log_one and "seed 1 trained" not in log_one
    assert len(one) == 4 and two == one


@pytest.mark.parametrize("value", ["-1", "1.5"])  # study.jobs=0: test_bad_input; "two": a type
def test_a_bad_jobs_value_is_one_line(value, tmp_path):
    proc = run_module(
        "imbalance_gan.study",
        "experiment=smoke",
        f"study.jobs={value}",
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 2, proc.stderr[-1000:]
    said = proc.stdout + proc.stderr
    assert "study.jobs=" in said and "Traceback" not in said
    assert not (tmp_path / "study.json").exists()  # refused before anything is written


def test_the_run_eta_leaves_out_the_generators_trained_before_the_first_run(caplog):
    """Generators train first; the ETA of the runs counts from the first run's start."""
    import logging

    from imbalance_gan.study import RunProgress

    class Clock:
        elapsed = 0.0

    clock = Clock()
    progress = RunProgress(total=4, to_make=4, timer=clock)
    clock.elapsed = 3600.0  # an hour of generator training
    with caplog.at_level(logging.INFO, logger="imbalance_gan.study"):
        progress.started(0, "original")
        clock.elapsed += 60.0  # one run: one minute
        progress.ended(0, "original", True)
    assert caplog.records[-1].getMessage().endswith("(elapsed 1:01:00, ETA 0:03:00)")
