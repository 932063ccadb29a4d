"""Scale-out: the launcher configs, sweeps through Hydra's local launchers, and the GAN cache
shared by concurrent processes (README, "Running on a cluster")."""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from imbalance_gan.generators import cache

from .conftest import CONF, make_cfg, run_module, run_processes

SMOKE_SWEEP = ("-m", "scenario=original", "seed=0,1", "experiment=smoke")


def _launcher(*overrides: str):
    """The composed ``hydra.launcher`` node of the classify config with ``overrides``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("classify", list(overrides), return_hydra_config=True).hydra.launcher


# --- launcher configs -----------------------------------------------------------------------------


def test_cli_shows_slurm_launcher_overrides_and_ddp_trainer():
    """The commands of the README compose: ``--cfg all`` prints the job and the Hydra config."""
    proc = run_module(
        "imbalance_gan.classify",
        "--cfg",
        "all",
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=120",
        "hydra.launcher.gpus_per_node=1",
        "hydra.launcher.mem_gb=32",
        "hydra.launcher.array_parallelism=8",
        "trainer=ddp",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = yaml.safe_load(proc.stdout)
    launcher, trainer = cfg["hydra"]["launcher"], cfg["trainer"]
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert [launcher[k] for k in ("partition", "timeout_min", "gpus_per_node")] == ["gpu", 120, 1]
    assert [launcher[k] for k in ("mem_gb", "array_parallelism")] == [32, 8]
    assert [trainer[k] for k in ("strategy", "devices", "accelerator")] == ["ddp", -1, "gpu"]
    assert trainer["precision"] == "bf16-mixed"  # the gpu settings it extends


def test_project_slurm_launcher_extends_the_plugin_with_requeue_on_timeout():
    launcher = _launcher(
        "hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=120"
    )
    assert launcher._target_ == "hydra_plugins.imbalance_gan_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.timeout_min) == ("gpu", 120)
    assert launcher.max_num_timeout > 0  # the plugin's 0 never requeues a timed-out run
    assert launcher.signal_delay_s > 0
    assert "qos" in launcher and "account" in launcher  # every plugin key is still there


@pytest.mark.parametrize(
    ("overrides", "gpus", "cpus", "mem_gb"),
    [
        ((), None, 2, 4),  # trainer=cpu: no GPU asked for, so it runs on clusters without any
        (("trainer=gpu",), 1, 4, 16),
        (("trainer=gpu", "trainer.devices=2"), 2, 4, 16),
        (("trainer=gpu", "hydra.launcher.gpus_per_node=3", "hydra.launcher.mem_gb=64"), 3, 4, 64),
        (("trainer.resources.cpus=1",), None, 1, 4),
    ],
)
def test_slurm_request_follows_the_trainer_and_can_be_overridden(overrides, gpus, cpus, mem_gb):
    launcher = _launcher("hydra/launcher=slurm", *overrides)
    assert (launcher.gpus_per_node, launcher.cpus_per_task, launcher.mem_gb) == (gpus, cpus, mem_gb)


def test_misspelled_launcher_key_is_an_error():
    with pytest.raises(ConfigCompositionException, match="partiton"):
        _launcher("hydra/launcher=slurm", "hydra.launcher.partiton=gpu")


@pytest.mark.parametrize(
    ("overrides", "target", "key", "value"),
    [
        (
            ("hydra/launcher=submitit_local", "hydra.launcher.timeout_min=600"),
            "LocalLauncher",
            "timeout_min",
            600,
        ),
        (("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"), "JoblibLauncher", "n_jobs", 2),
    ],
)
def test_local_launchers_compose(overrides, target, key, value):
    launcher = _launcher(*overrides)
    assert launcher._target_.endswith(target)
    assert launcher[key] == value


# --- what a SLURM sweep submits (a fake sbatch records it; no cluster needed) ---------------------


def _fake_slurm(tmp_path: Path) -> dict:
    """PATH with an ``sbatch`` that saves the script it is given and refuses it, and an ``srun``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(
        '#!/bin/sh\ncp "$1" "$FAKE_SBATCH_COPY"\necho "sbatch: no cluster here" >&2\nexit 1\n'
    )
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_SBATCH_COPY": str(tmp_path / "submitted.sh"),
    }


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts as fake SLURM tools")
def test_slurm_sweep_submits_a_requeueable_array_with_the_requested_resources(tmp_path):
    """What SLURM gets: one array with our resources and the requeue signal; and what it runs again
    after a requeue: the same overrides (resume=true included) into the same output dir (the
    default sweep dir holds a timestamp), with a countdown of timeout requeues."""
    from hydra.core.utils import setup_globals
    from submitit.core.utils import DelayedSubmission

    proc = run_module(
        "imbalance_gan.classify",
        *SMOKE_SWEEP,
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=120",
        "hydra.launcher.array_parallelism=1",
        "trainer=gpu",
        "resume=true",
        cwd=tmp_path,
        env=_fake_slurm(tmp_path),
    )
    assert proc.returncode != 0 and "no cluster here" in proc.stderr, proc.stderr[-2000:]
    script = (tmp_path / "submitted.sh").read_text()
    for flag in (
        "--array=0-1%1",  # two runs, at most one at a time
        "--partition=gpu",
        "--time=120",
        "--gpus-per-node=1",
        "--cpus-per-task=4",  # trainer=gpu's resources
        "--mem=16GB",
        "--signal=USR2@120",  # submitit checkpoints and requeues on this signal
    ):
        assert f"#SBATCH {flag}\n" in script, flag

    pickled = sorted(tmp_path.glob("multirun/*/*/.submitit/*.pkl"))
    assert len(pickled) == 2
    sweep_dir = pickled[0].parent.parent.relative_to(tmp_path)
    time.sleep(1.1)  # a timestamp resolved anew would now differ
    setup_globals()  # registers ${now:}, as in a submitit job
    jobs = sorted((DelayedSubmission.load(p) for p in pickled), key=lambda j: j.args[2])
    for num, job in enumerate(jobs):
        overrides, _, job_num = job.args[:3]
        assert job_num == num and f"seed={num}" in overrides
        assert any(o.lower() == "resume=true" for o in overrides)
        assert Path(str(job.function.config.hydra.sweep.dir)) == sweep_dir
        assert job._timeout_countdown == 3  # hydra.launcher.max_num_timeout
        assert job.function.checkpoint(*job.args, **job.kwargs).args == job.args


# --- sweeps through the local launchers, aggregated by the report ---------------------------------


def _sweep_and_report(tmp_path: Path, *launcher: str) -> Path:
    sweep = tmp_path / "sweep"
    proc = run_module(
        "imbalance_gan.classify",
        *SMOKE_SWEEP,
        *launcher,
        f"hydra.sweep.dir={sweep}",
        f"paths.artifact_dir={tmp_path / 'artifacts'}",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sorted(p.parent.name for p in sweep.glob("*/metrics.json")) == ["0", "1"]
    report = run_module("imbalance_gan.report", str(sweep))
    assert report.returncode == 0, report.stderr[-2000:]
    with open(sweep / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["scenario"], r["seed"], r["experiment"]) for r in rows) == [
        ("original", "0", "smoke"),
        ("original", "1", "smoke"),
    ]
    assert (sweep / "report.md").is_file()
    return sweep


def _launcher_of(run_dir: Path) -> str:
    return yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["launcher"][
        "_target_"
    ]


@pytest.mark.slow  # ~85 s on 2 busy cores
def test_submitit_local_sweep_is_reported(tmp_path):
    sweep = _sweep_and_report(tmp_path, "hydra/launcher=submitit_local")
    assert _launcher_of(sweep / "0").endswith("LocalLauncher")
    assert list((sweep / ".submitit").glob("*/*_log.out"))  # the runs were submitit jobs


@pytest.mark.slow  # ~70 s on 2 busy cores
def test_joblib_sweep_is_reported(tmp_path):
    sweep = _sweep_and_report(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert _launcher_of(sweep / "1").endswith("JoblibLauncher")


# --- the GAN cache under concurrency --------------------------------------------------------------


def _claim_entry(cfg, barrier, log_dir: str) -> None:
    """Child process: ask for the cache entry at the same moment as the other child."""

    def build(tmp: Path) -> None:
        (Path(log_dir) / f"built-by-{os.getpid()}").touch()
        tmp.mkdir(parents=True)
        time.sleep(1.0)  # long enough for the other process to find the claim taken
        (tmp / "metrics.json").write_text(json.dumps({"builder": os.getpid()}))

    barrier.wait(60)
    entry = cache.get_or_build(cfg, build)
    (Path(log_dir) / f"got-{os.getpid()}").write_text(str(entry))


def test_two_processes_asking_at_once_build_one_entry_and_share_it(tmp_path):
    cfg = make_cfg("train", ["experiment=smoke"], tmp_path / "run")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_claim_entry, args=(cfg, barrier, str(tmp_path))) for _ in range(2)]
    assert run_processes(procs) == [0, 0]
    entry = cache.entry_dir(cfg)
    (built,) = tmp_path.glob("built-by-*")  # exactly one build
    assert {p.read_text() for p in tmp_path.glob("got-*")} == {str(entry)}
    assert len(list(tmp_path.glob("got-*"))) == 2
    assert json.loads((entry / "metrics.json").read_text())["builder"] == int(built.name[9:])
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]  # no .tmp, no .lock left


def _write_lock(entry: Path, pid: int, host: str, age_s: float = 0.0) -> Path:
    lock = cache.EntryLock(entry).path
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"pid": pid, "host": host, "time": time.time() - age_s}))
    return lock


def _get_or_build_within(cfg, build, timeout_s: float = 30.0) -> Path:
    """``cache.get_or_build`` in a thread, so that a test fails instead of hanging forever."""
    result: list = []

    def call() -> None:
        try:
            result.append(cache.get_or_build(cfg, build))
        except Exception as err:  # re-raised below, in the test's thread
            result.append(err)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert result, f"get_or_build still waiting after {timeout_s} s"
    if isinstance(result[0], Exception):
        raise result[0]
    return result[0]


def _finish(tmp: Path) -> None:
    tmp.mkdir(parents=True)
    (tmp / "metrics.json").write_text("{}")


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    cfg = make_cfg("train", ["experiment=smoke"], tmp_path / "run")
    entry = cache.entry_dir(cfg)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = _write_lock(entry, gone.pid, socket.gethostname())
    built = []
    assert _get_or_build_within(cfg, lambda tmp: (built.append(tmp), _finish(tmp))) == entry
    assert len(built) == 1 and cache.is_finished(entry)
    assert not lock.exists()


def test_waits_for_a_live_owner_instead_of_building(tmp_path):
    cfg = make_cfg("train", ["experiment=smoke"], tmp_path / "run")
    entry = cache.entry_dir(cfg)
    lock = _write_lock(entry, os.getpid(), socket.gethostname())  # alive: this very process

    def owner_finishes() -> None:
        time.sleep(0.5)
        _finish(entry.with_name(".owner.tmp"))
        os.rename(entry.with_name(".owner.tmp"), entry)
        lock.unlink()

    threading.Thread(target=owner_finishes).start()
    built = []
    assert _get_or_build_within(cfg, lambda tmp: (built.append(tmp), _finish(tmp))) == entry
    assert built == []


def test_lock_from_another_host_is_respected_until_it_is_old(tmp_path):
    cfg = make_cfg("train", ["experiment=smoke"], tmp_path / "run")
    entry = cache.entry_dir(cfg)
    lock = cache.EntryLock(entry)
    _write_lock(entry, 1, "another-node")  # its pid cannot be checked from here
    assert not lock.try_acquire()
    _write_lock(entry, 1, "another-node", age_s=lock.stale_after_s + 60)
    assert lock.try_acquire()
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.release()


@pytest.mark.slow  # ~90 s on 2 busy cores
def test_concurrent_gan_scenario_runs_train_one_gan_and_both_use_it(tmp_path):
    artifacts = tmp_path / "artifacts"

    def classify(i: int) -> subprocess.CompletedProcess:
        return run_module(
            "imbalance_gan.classify",
            "scenario=dcgan",
            "experiment=smoke",
            f"paths.artifact_dir={artifacts}",
            f"hydra.run.dir={tmp_path / f'run{i}'}",
            timeout=900,
        )

    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(classify, range(2)))
    assert [p.returncode for p in procs] == [0, 0], (
        procs[0].stderr[-2000:] + procs[1].stderr[-2000:]
    )
    (entry,) = (artifacts / "gan").iterdir()  # one entry, no .tmp or .lock left behind
    assert entry.name.startswith("dcgan-") and cache.is_finished(entry)
    for i in range(2):
        metrics = json.loads((tmp_path / f"run{i}" / "metrics.json").read_text())
        assert metrics["gan_run"]["dir"] == f"gan/{entry.name}"  # relative to the artifact dir
    logs = [(tmp_path / f"run{i}" / "classify.log").read_text() for i in range(2)]
    assert sum("training one" in log for log in logs) == 1  # the other run waited and reused it


# --- the SLURM launcher's own parts, against fake SLURM tools -------------------------------------


def _tool(tmp_path: Path, monkeypatch, name: str, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts as fake SLURM tools")
def test_job_states_come_from_scontrol_without_accounting(tmp_path, monkeypatch):
    """What submitit reads from sacct, made from ``scontrol show job -o``: array tasks one by one,
    pending ones as a range, and a job SLURM has forgotten as GONE (ended, not waiting)."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    from imbalance_gan.runtime.slurm import scontrol_states

    _tool(
        tmp_path,
        monkeypatch,
        "scontrol",
        'case "$4" in\n'
        "7) echo 'JobId=8 ArrayJobId=7 ArrayTaskId=0 JobState=CANCELLED Reason=None NodeList=vm'\n"
        "   echo 'JobId=7 ArrayJobId=7 ArrayTaskId=1-2 JobState=PENDING Reason=Resources NodeList=' ;;\n"
        "*) echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1 ;;\nesac",
    )
    states = SlurmInfoWatcher().read_info(scontrol_states(["7", "9"]))
    assert {k: v["State"] for k, v in states.items()} == {
        "7_0": "CANCELLED",
        "7_1": "PENDING",
        "7_2": "PENDING",
        "9": "GONE",
    }


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts as fake SLURM tools")
@pytest.mark.parametrize(
    ("request_", "refused"),
    [
        ({"cpus_per_task": 2, "mem_gb": 4, "gpus_per_node": None}, None),
        ({"cpus_per_task": 2, "mem_gb": 40, "gpus_per_node": None}, "mem_gb=40"),
        ({"cpus_per_task": 16, "mem_gb": 4, "gpus_per_node": None}, "cpus_per_task=16"),
        ({"cpus_per_task": 2, "mem_gb": 4, "gpus_per_node": 1}, "gpus_per_node=1"),
        ({"partition": "gpu", "cpus_per_task": 2, "mem_gb": 40, "gpus_per_node": 4}, None),
        ({"partition": "gpu", "gpus_per_node": -1}, "trainer.devices=N"),
    ],
)
def test_request_no_node_can_hold_is_refused_before_submission(
    request_, refused, tmp_path, monkeypatch
):
    from imbalance_gan.runtime.slurm import check_fits

    _tool(
        tmp_path,
        monkeypatch,
        "sinfo",
        "echo 'debug*|8|16000|(null)'; echo 'gpu|32|512000+|gpu:h100:4(S:0-1)'",
    )
    why = check_fits(request_)
    assert (why is None) if refused is None else (refused in why), why
