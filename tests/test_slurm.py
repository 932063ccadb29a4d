"""Scale-out on a real SLURM cluster: slurmctld, slurmd and munged started on this machine by
``tests/slurm_cluster.sh`` (README, "Running on a cluster"). Run with ``make test-slurm``; the
default suite leaves them out (marker ``slurm``)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import DATA, ROOT, run_module
from .hooks.step_hooks import subprocess_env

pytestmark = pytest.mark.slurm

SCRIPT = Path(__file__).with_name("slurm_cluster.sh")


@pytest.fixture(scope="module")
def slurm_cluster():
    """A single-node cluster for the module's tests; ``SLURM_CONF`` points every client at it.

    Its state lives in a fresh folder under /tmp (munged runs as user munge and must reach it);
    afterwards exactly the daemons it started are stopped and the folder removed."""
    state = Path(tempfile.mkdtemp(prefix="imbalance-gan-slurm-"))
    start = subprocess.run(
        ["bash", str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=600
    )
    previous = os.environ.get("SLURM_CONF")
    try:
        if start.returncode != 0:
            pytest.fail(f"the test cluster did not start:\n{start.stderr[-3000:]}")
        os.environ["SLURM_CONF"] = start.stdout.split()[-1]
        yield state
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(state)], timeout=120, check=False)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        shutil.rmtree(state, ignore_errors=True)


# the commands of the README's "Trying it on one machine", as the tests run them
SWEEP = (
    "-m",
    "hydra/launcher=slurm",
    "experiment=smoke",
    "resume=true",
    "trainer.resources.cpus=1",  # two runs at once on a 2-core node
)


def _sweep(tmp_path: Path, *overrides: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return run_module(
        "imbalance_gan.classify",
        *SWEEP,
        *overrides,
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"paths.artifact_dir={tmp_path / 'artifacts'}",
        timeout=timeout,
    )


def test_smoke_sweep_runs_as_a_job_array_and_is_reported(slurm_cluster, tmp_path):
    """2 scenarios x 2 seeds with trainer=cpu: no GPU asked for, so the GPU-less node runs them."""
    proc = _sweep(tmp_path, "scenario=original,oversample", "seed=0,1")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    assert sorted(p.parent.name for p in sweep.glob("*/metrics.json")) == ["0", "1", "2", "3"]
    (submitted,) = {p.read_text() for p in sweep.glob(".submitit/*/*_submission.sh")} or {""}
    assert "--gpus-per-node" not in submitted and "--cpus-per-task=1" in submitted
    report = run_module("imbalance_gan.report", str(sweep))
    assert report.returncode == 0, report.stderr[-2000:]
    with open(sweep / "results.csv") as f:
        rows = sorted((r["scenario"], r["seed"]) for r in csv.DictReader(f))
    assert rows == [("original", "0"), ("original", "1"), ("oversample", "0"), ("oversample", "1")]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # what no node can hold: refused before sbatch, which might let it pend forever
        ("hydra.launcher.mem_gb=4096", "error: hydra.launcher.mem_gb=4096 does not fit any node"),
        # what SLURM refuses itself: its own words
        ("hydra.launcher.partition=nosuch", "error: SLURM refused the jobs: invalid partition"),
    ],
)
def test_request_that_cannot_run_ends_at_submission(slurm_cluster, tmp_path, override, message):
    proc = _sweep(tmp_path, "scenario=original", "seed=0", override, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(message), proc.stderr[-2000:]
    assert not subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout


def _held_sweep(tmp_path: Path, sweeps: list, *overrides: str) -> tuple[subprocess.Popen, str]:
    """A one-run sweep held at its 4th training step (of 6 per epoch, 2 epochs) until a signal
    arrives; returns the sweep process and the SLURM id of the job."""
    # the hook reaches the job through the environment sbatch exports to it (PYTHONPATH)
    env = {**os.environ, "IMBALANCE_GAN_DATA": str(DATA), **subprocess_env(wait_at_step=4)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imbalance_gan.classify",
            *SWEEP,
            *RUN,
            *overrides,
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            f"paths.artifact_dir={tmp_path / 'artifacts'}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sweeps.append(proc)
    deadline = time.time() + 180
    while not (tmp_path / "sweep" / "0" / "waiting").exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("the run never reached its 4th step:\n" + proc.communicate()[1][-3000:])
        time.sleep(0.2)
    (job,) = [p.name for p in (tmp_path / "sweep" / ".submitit").iterdir() if p.is_dir()]
    return proc, job


@pytest.fixture
def sweeps():
    """Sweep processes a test starts; any still running at its end (a failed test) is killed."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


RUN = ("scenario=original", "seed=1", "trainer.limit_train_batches=6")
HOLD_S = 3


def test_preempted_job_resumes_mid_epoch_and_ends_as_an_uninterrupted_run(
    slurm_cluster, sweeps, tmp_path
):
    """USR2 (preemption or time limit): the run checkpoints at the next step, submitit requeues
    the job, and the requeued job continues mid-epoch to exactly an uninterrupted run's metrics."""
    proc, job = _held_sweep(tmp_path, sweeps)  # one run: a plain job, not an array
    time.sleep(HOLD_S)
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
    reference = run_module(
        "imbalance_gan.classify",
        "experiment=smoke",
        *RUN,
        f"hydra.run.dir={tmp_path / 'reference'}",
        f"paths.artifact_dir={tmp_path / 'artifacts'}",
        env={"OMP_NUM_THREADS": "1"},  # as many threads as the job's one CPU
    )
    assert reference.returncode == 0, reference.stderr[-2000:]
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-2000:] + err[-3000:]
    log = next((tmp_path / "sweep" / ".submitit").glob("*/*_0_log.out")).read_text()
    assert "resuming from the checkpoint of a stop in epoch 0 after 4 batches" in log
    record = json.loads((tmp_path / "sweep" / "0" / "metrics.json").read_text())
    uninterrupted = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    assert record["metrics"] == uninterrupted["metrics"]
    assert record["best_epoch"] == uninterrupted["best_epoch"]
    # both attempts count: the first one's HOLD_S at least, and the whole of the second
    (second_s,) = re.findall(r"test accuracy .*\((\d+)s\)", log)
    assert record["wall_time_s"] >= int(second_s) + HOLD_S - 1


def test_cancelled_job_ends_the_sweep_with_its_reason(slurm_cluster, sweeps, tmp_path):
    proc, job = _held_sweep(tmp_path, sweeps)  # one run: a plain job, not an array
    subprocess.run(["scancel", job], check=True, timeout=30)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, out[-2000:] + err[-3000:]
    *_, header, reason = err.strip().splitlines()
    assert header.startswith("error: 1 of 1 jobs did not finish their run")
    assert f"job {job}: cancelled" in reason and "SIGTERM" in reason


def test_smoke_study_runs_as_gan_then_classifier_jobs_and_is_reported(slurm_cluster, tmp_path):
    """One command: the GAN both runs need is trained once, by a job of its own, then the
    classifier runs; the report is the local study's."""
    out = tmp_path / "study"
    proc = run_module(
        "imbalance_gan.study",
        "hydra/launcher=slurm",
        "experiment=smoke",
        "trainer.resources.cpus=1",
        "study.seeds=[0]",
        "study.scenarios=[cgan,cgan_agnostic]",  # one GAN for both
        "study.baseline=cgan",
        f"hydra.run.dir={out}",
        f"paths.artifact_dir={tmp_path / 'artifacts'}",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    runs = sorted(p.parent.name for p in out.glob("runs/seed0/*/metrics.json"))
    assert runs == ["cgan", "cgan_agnostic"]
    assert (out / "report.md").is_file() and (out / "results.csv").is_file()
    (gan,) = (tmp_path / "artifacts" / "gan").iterdir()
    assert gan.name.startswith("cgan-")
    # a GAN job (no array: one job), then an array of the two classifier runs
    jobs = sorted(p.name for p in (out / ".submitit").iterdir() if p.is_dir())
    gan_job = min(jobs, key=lambda name: int(name.split("_")[0]))
    assert len(jobs) == 4 and "_" not in gan_job, jobs
    logs = "".join(p.read_text() for p in out.glob("runs/seed0/*/classify.log"))
    assert "training one" not in logs  # the generator jobs trained them; the runs only loaded them
