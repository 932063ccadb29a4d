"""``hydra/launcher=slurm``: the submitit plugin's SLURM launcher, made to end in every case.

What it adds to ``hydra_plugins.hydra_submitit_launcher``'s ``SlurmLauncher`` (README, "Running
on a cluster"):

- a request no node of the partition can hold ends the sweep at submission, with SLURM's
  message (or, where SLURM would accept it and let it pend forever, with what the nodes have);
- job states come from ``sacct`` or, on clusters without accounting (no slurmdbd), from
  ``scontrol``, so a job cancelled or killed outright ends the sweep instead of a wait forever;
- the sweep ends with one line per job that did not finish and a non-zero exit, not a
  traceback;
- inside a job, SIGTERM (what ``scancel`` sends) stops the run instead of being ignored, and
  torch uses the job's CPUs (``cpus_per_task``), not every core of the node.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf
from submitit.core.utils import FailedJobError, UncompletedJobError
from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

from imbalance_gan.runtime.errors import EXIT_USER_ERROR, Preempted

log = logging.getLogger("imbalance_gan.slurm")

#: seconds between two looks at the job states, once the sweep has run a while
POLL_S = 30

#: scontrol's states of a job that is not over, under the names submitit waits on (it takes any
#: name it does not know for an ended job)
NOT_OVER = {
    "CONFIGURING": "PENDING",
    "REQUEUE_HOLD": "PENDING",
    "REQUEUE_FED": "PENDING",
    "RESV_DEL_HOLD": "PENDING",
    "SUSPENDED": "RUNNING",
    "STOPPED": "RUNNING",
    "SIGNALING": "RUNNING",
    "RESIZING": "RUNNING",
    "STAGE_OUT": "COMPLETING",
}


def _run(command: list[str]) -> subprocess.CompletedProcess | None:
    """``command``'s output; None when it cannot be run or hangs."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def scontrol_states(job_ids: Sequence[str]) -> str:
    """Job states from ``scontrol show job``, in the ``sacct --parsable2`` form submitit reads.

    A job SLURM no longer knows (purged after ``MinJobAge``) is reported as ``GONE``."""
    lines = ["JobID|State|NodeList"]
    for job_id in job_ids:
        proc = _run(["scontrol", "show", "job", "-o", str(job_id)])
        if proc is None or proc.returncode != 0:
            if proc is not None and "Invalid job id" in proc.stderr:
                lines.append(f"{job_id}|GONE|")
            continue
        for record in proc.stdout.splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", record))
            task = fields.get("ArrayTaskId")
            name = fields.get("JobId", job_id)
            if task and fields.get("ArrayJobId"):
                name = f"{fields['ArrayJobId']}_{task if task.isdigit() else f'[{task}]'}"
            state = fields.get("JobState", "UNKNOWN")
            state = NOT_OVER.get(state, state)
            lines.append(f"{name}|{state}|{fields.get('NodeList', '')}")
    return "\n".join(lines)


class StateWatcher(SlurmInfoWatcher):
    """submitit's watcher, asking ``scontrol`` where ``sacct`` fails (no accounting)."""

    def update(self) -> None:
        command = self._make_command()
        if command is None:
            return
        self._num_calls += 1
        proc = _run(command)
        if proc is not None and proc.returncode == 0:
            self._output = proc.stdout
        else:
            self._output = scontrol_states(
                sorted({j.split("_")[0] for j in self._registered - self._finished})
            )
        self._info_dict.update(self.read_info(self._output))
        self._last_status_check = time.time()
        for job_id in self._registered - self._finished:
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)


#: job states in which no result file will appear
ENDED_WITHOUT_RESULT = {"CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "GONE"}

#: one watcher for all jobs of this process, as submitit's own
WATCHER = StateWatcher(delay_s=POLL_S)


def _largest_node(partition: str | None) -> dict | None:
    """CPUs, memory (MB) and GPUs of the largest node in ``partition`` (None: the default one),
    from ``sinfo``; None when sinfo cannot tell."""
    proc = _run(["sinfo", "-h", "-N", "-o", "%P|%c|%m|%G"])
    if proc is None or proc.returncode != 0:
        return None
    nodes = []
    for line in proc.stdout.splitlines():
        try:
            part, cpus, mem, gres = line.split("|")
            default = part.endswith("*")
            if (partition is None and default) or part.rstrip("*") == partition:
                gpus = sum(int(n) for n in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres))
                nodes.append({"cpus": int(cpus), "mem_mb": int(mem.rstrip("+")), "gpus": gpus})
        except ValueError:  # a form we do not know: let sbatch judge
            return None
    if not nodes:
        return None
    return {k: max(n[k] for n in nodes) for k in ("cpus", "mem_mb", "gpus")}


def check_fits(params: dict) -> str | None:
    """Why no node of the partition can hold one run of ``params``; None when one can."""
    gpus = params.get("gpus_per_node")
    if gpus is not None and gpus < 1:
        return (
            f"hydra.launcher.gpus_per_node={gpus} (from trainer.devices) does not say how many "
            "GPUs to ask for; set trainer.devices=N or hydra.launcher.gpus_per_node=N"
        )
    node = _largest_node(params.get("partition"))
    if node is None:
        return None
    where = f"partition {params.get('partition') or '(default)'}"
    asked = {
        "cpus_per_task": (params.get("cpus_per_task") or 1, node["cpus"], "CPUs"),
        "mem_gb": ((params.get("mem_gb") or 0) * 1024, node["mem_mb"], "MB of memory"),
        "gpus_per_node": (params.get("gpus_per_node") or 0, node["gpus"], "GPUs"),
    }
    for key, (want, have, unit) in asked.items():
        if want > have:
            return (
                f"hydra.launcher.{key}={params.get(key)} does not fit any node of {where} "
                f"(the largest has {have} {unit}); lower it or choose another partition"
            )
    return None


def _job_failure(job: SlurmJob, ret: Any, left_result: bool) -> str | None:
    """One line saying why a finished job did not complete its run; None when it did."""
    if left_result:
        if not isinstance(ret, JobReturn) or ret.status == JobStatus.COMPLETED:
            return None
        err = ret._return_value
        lines = str(err).strip().splitlines()
        return f"{type(err).__name__}: {lines[-1] if lines else ''}"
    state = job.watcher.get_state(job.job_id, mode="force").split()[0]
    last = ""
    if job.paths.stderr.is_file():
        lines = [ln for ln in job.paths.stderr.read_text(errors="replace").splitlines() if ln]
        errors = [ln for ln in lines if ln.startswith(("error:", "stopped:", "slurmstepd"))]
        last = (errors or lines or [""])[-1].strip()
    reason = {"CANCELLED": "cancelled (scancel, or by an administrator)"}.get(
        state, f"ended {state}"
    )
    return f"{reason}{f': {last}' if last else ''}"


def run_jobs(
    params: dict, function: Any, calls: Sequence[tuple], labels: Sequence[str]
) -> tuple[list[Any], list[str]]:
    """Run ``function(*call)`` for every call as one SLURM job array and wait for all of them.

    ``params`` are the launcher's (``hydra.launcher``, resolved). Returns each job's result
    (None where it left none) and one line per job that did not finish (with its label).
    Exits at once, with SLURM's or our one-line reason, when the request cannot run at all."""
    import submitit

    why = check_fits(params)
    if why:
        _exit(f"error: {why}", EXIT_USER_ERROR)
    params = {k: v for k, v in params.items() if k != "_target_"}
    executor = submitit.AutoExecutor(
        cluster="slurm",
        folder=params.pop("submitit_folder"),
        slurm_max_num_timeout=params.pop("max_num_timeout"),
    )
    common = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in common else f"slurm_{k}": v for k, v in params.items()})
    try:
        jobs = executor.map_array(function, *zip(*calls, strict=True))
    except FailedJobError as err:  # sbatch refused the array; its message says why
        message = " ".join(str(err).replace("sbatch: error:", "").split())
        _exit(f"error: SLURM refused the jobs: {message}", EXIT_USER_ERROR)
    for job in jobs:  # submitit builds array jobs with its own class; give them our watcher
        job.watcher = WATCHER
        WATCHER.register_job(job.job_id)
    results, failures = [], []
    for job, label in zip(jobs, labels, strict=True):
        job.wait()
        if job.state.split()[0] in ENDED_WITHOUT_RESULT:
            job._results_timeout_s = 2  # not the 15 s for a slow file system: none will come
        try:
            ret, left = job.results()[0], True
        except (UncompletedJobError, FailedJobError):
            ret, left = None, False
        results.append(ret)
        why = _job_failure(job, ret, left)
        if why:
            failures.append(f"{label} job {job.job_id}: {why}")
    return results, failures


class Requeueable:
    """``function`` as a submitit job that stops on SIGTERM and is requeued on USR2 (submitit
    calls ``checkpoint``: the same call again; the function must resume by itself)."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def __call__(self, *args: Any) -> Any:
        in_job_setup()
        return self.function(*args)

    def checkpoint(self, *args: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args)


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    """The plugin's launcher with a check before submission and an end in every case."""

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        in_job_setup()
        return super().__call__(*args, **kwargs)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Submit one job array, wait for it, and exit non-zero with one line per failed job
        (the plugin's ``launch`` raises at the first one, or waits forever for a killed one)."""
        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            sweep_dir.chmod(int(str(self.config.hydra.sweep.mode), 8))
        log.info("SLURM sweep output dir: %s", sweep_dir)
        calls, labels = [], []
        for num, overrides in enumerate(job_overrides, initial_job_idx):
            shown = " ".join(filter_overrides(overrides))
            log.info("\t#%d : %s", num, shown)
            calls.append(
                (
                    list(overrides),
                    "hydra.sweep.dir",
                    num,
                    f"job_id_for_{num}",
                    Singleton.get_state(),
                )
            )
            labels.append(f"  #{num} ({shown})")
        results, failures = run_jobs(self.params, self, calls, labels)
        if failures:
            _exit(
                f"error: {len(failures)} of {len(calls)} jobs did not finish their run (logs in "
                f"{sweep_dir / '.submitit'}):\n" + "\n".join(failures),
                1,
            )
        return results


def launcher_params(launcher: Any, folder: Path) -> dict:
    """The resolved ``hydra.launcher`` config, with submitit's files written under ``folder``."""
    params = OmegaConf.to_container(launcher, resolve=True)
    params["submitit_folder"] = str(folder / "%j")
    return params


def in_job_setup() -> None:
    """What every job does first: stop on SIGTERM, and compute on the CPUs it was given.

    submitit only logs SIGTERM; stopping instead keeps a job SLURM cancels from reporting success
    (during training the run checkpoints first: runtime/resilience.py). torch would start a
    thread per core of the node, whatever the job asked for, unless OMP_NUM_THREADS says."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and not os.environ.get("OMP_NUM_THREADS"):
        import torch

        torch.set_num_threads(int(cpus))


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise Preempted("SIGTERM received: SLURM cancelled the job")


def _exit(message: str, status: int) -> None:
    print(message, file=sys.stderr, flush=True)
    sys.exit(status)
