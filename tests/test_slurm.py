"""Scale-out on a real SLURM cluster: slurmctld, slurmd and munged started on this machine by
``tests/slurm_cluster.sh`` (README, "Running on a cluster"). Run with ``make test-slurm``; the
default suite leaves them out (marker ``slurm``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

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


def test_cluster_runs_a_job(slurm_cluster, tmp_path):
    out = tmp_path / "hello.out"
    proc = subprocess.run(
        ["sbatch", "--wait", f"--output={out}", "--wrap=echo hello from $SLURM_JOB_ID"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("hello from ")
