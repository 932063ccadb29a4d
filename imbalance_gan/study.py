"""``python -m imbalance_gan.study``: every scenario with every classifier fix over every seed,
then the report.

Resumable: a run whose ``metrics.json`` exists is skipped, so the same command with the same
output dir (``hydra.run.dir=...``) redoes only what is missing. One failed run writes
``failed.json``, shows up in the report and the exit status, and does not stop the others.

With ``hydra/launcher=slurm`` the runs are SLURM jobs instead: first one job per generator the study
needs (each trained once, into the shared cache), then one per classifier run; this process
waits for them and writes the same report. Jobs always resume, so a requeued job continues.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from imbalance_gan import record
from imbalance_gan.classifier.pipeline import run_one
from imbalance_gan.classifier.plan import plan_line
from imbalance_gan.classifier.rules import check_classify_config
from imbalance_gan.data import build_data, split_from_config
from imbalance_gan.generators import cache
from imbalance_gan.generators.pipeline import generator_for_run
from imbalance_gan.record.rundir import check_run_dir
from imbalance_gan.reporting.build import write_report
from imbalance_gan.runtime.cli import command, run_command
from imbalance_gan.runtime.files import read_json, write_json
from imbalance_gan.runtime.pool import run_pool, threads_per_job
from imbalance_gan.runtime.progress import clock
from imbalance_gan.runtime.trainer import Timer, hardware, output_dir
from imbalance_gan.scenarios.grid import plan_runs, run_dir, run_names

log = logging.getLogger("imbalance_gan.study")

#: ``hydra/launcher=slurm`` (conf/hydra/launcher/slurm.yaml): the study runs as SLURM jobs
SLURM_LAUNCHER = "imbalance_gan_launcher.SlurmLauncher"


def needed_gans(todo: list[tuple[int, str, DictConfig]]) -> dict[Path, tuple[str, DictConfig]]:
    """The unfinished generator cache entries the runs ``todo`` need, each once: entry -> (a label,
    the config of one run that needs it)."""
    generators: dict[Path, tuple[str, DictConfig]] = {}
    for seed, _, run_cfg in todo:
        entry = cache.entry_dir(run_cfg) if run_cfg.scenario.use_generator else None
        if entry is not None and not cache.is_finished(entry) and entry not in generators:
            generators[entry] = (f"generator {run_cfg.gan.name} seed {seed}", run_cfg)
    return generators


def run_on_slurm(runs: list[tuple[int, str, DictConfig]], launcher: DictConfig, root: Path) -> int:
    """The study's runs as SLURM jobs: the generators they need first, then the classifier runs.

    Returns how many runs did not finish; every job that did not is logged on one line."""
    from imbalance_gan.runtime.slurm import Requeueable, launcher_params, run_jobs

    params = launcher_params(launcher, root / ".submitit")
    todo = []
    for seed, scenario, run_cfg in runs:
        if not record.is_finished(run_dir(root, seed, scenario)):
            with open_dict(run_cfg):
                run_cfg.resume = True  # a requeued job continues from its checkpoints
            todo.append((seed, scenario, run_cfg))
    generators = needed_gans(todo)
    if generators:
        log.info("SLURM: %d generator jobs, for %d runs", len(generators), len(todo))
        labels, cfgs = zip(*generators.values(), strict=True)
        _, failures = run_jobs(params, Requeueable(generator_for_run), [(c,) for c in cfgs], labels)
        for line in failures:  # its runs will try again and record the failure
            log.error("%s", line)
    if not todo:
        return 0
    log.info("SLURM: %d classifier jobs", len(todo))
    results, failures = run_jobs(
        params,
        Requeueable(run_one),
        [(r, True) for _, _, r in todo],
        [f"seed {s}, {sc}" for s, sc, _ in todo],
    )
    for line in failures:
        log.error("%s", line)
    return sum(result is not True for result in results)


def study(cfg: DictConfig, overrides: list[str], launcher: DictConfig | None = None) -> int:
    """Run the study into the output dir and write the report; returns the exit status.

    ``launcher``: ``hydra.launcher`` (its interpolations resolvable) when the runs are to be SLURM
    jobs; None runs them here."""
    timer = Timer()
    root = output_dir(cfg)
    runs = plan_runs(cfg, overrides, root)
    for _, _, run_cfg in runs:  # every run's settings, before the first run starts
        check_classify_config(run_cfg)
    identities: dict[str, dict] = {}
    for _, _, run_cfg in runs:  # a finished run is kept, and only the same run is continued
        out, finished = Path(run_cfg.paths.output_dir), record.is_finished(run_cfg.paths.output_dir)
        if finished or (cfg.resume and out.is_dir()):
            data = _identity(run_cfg.data, identities)
            check_run_dir(out, run_cfg, finished, resume=True, data=data)
    split = split_from_config(cfg.data)  # data and counts valid?
    if warning := split.rare_class_warning():
        log.warning(warning)
    todo = [r for r in runs if not record.is_finished(r[2].paths.output_dir)]
    generators = [c for _, c in needed_gans(todo).values()]
    log.info("%s", plan_line([c for *_, c in todo], len(runs) - len(todo), generators, split))
    if cfg.study.get("plan_only"):
        return 0
    previous = read_json(root / "study.json") if (root / "study.json").is_file() else {}
    info = study_info(cfg, overrides, previous.get("wall_time_s", 0.0))
    write_json(root / "study.json", info)
    OmegaConf.save(cfg, root / "study_config.yaml", resolve=True)

    def add_time() -> None:  # the study's wall time over all its sessions, kept current
        info["wall_time_s"] = round(previous.get("wall_time_s", 0.0) + timer.elapsed, 1)
        write_json(root / "study.json", info)

    if launcher is not None:
        if not cfg.resume:  # the jobs resume (a requeued one must); start unfinished runs clean
            for _, _, run_cfg in runs:
                out = Path(run_cfg.paths.output_dir)
                if out.exists() and not record.is_finished(out):
                    shutil.rmtree(out)
        failed = run_on_slurm(runs, launcher, root)
        add_time()
    else:
        jobs, threads = int(cfg.study.get("jobs", 1)), cfg.study.get("threads")
        if jobs > 1:
            failed = run_in_pool(runs, bool(cfg.resume), timer, add_time, jobs, threads)
        else:
            if threads:
                torch.set_num_threads(int(threads))
            failed = run_here(runs, bool(cfg.resume), timer, add_time)
    return _finish(root, timer, failed, len(runs))


def _identity(cfg_data: DictConfig, known: dict[str, dict]) -> dict:
    """The identity of the images a run's ``data`` config names, nothing loaded; ``known``
    holds those found already (one per seed: a folder is not hashed again per scenario)."""
    key = str(OmegaConf.to_container(cfg_data, resolve=True))
    if key not in known:
        known[key] = build_data(cfg_data).identity()
    return known[key]


def study_info(cfg: DictConfig, overrides: list[str], wall_time_s: float) -> dict:
    """``study.json``: the protocol of the study, as the report states it."""
    return {
        "experiment": cfg.get("experiment"),
        "seeds": [int(s) for s in cfg.study.seeds],
        "scenarios": run_names(cfg),  # the runs: every scenario with every fix
        "data_operations": list(cfg.study.scenarios),
        "fixes": list(cfg.study.get("fixes") or ["none"]),
        "baseline": cfg.study.baseline,
        "best_classic": cfg.study.best_classic,
        "alpha": float(cfg.study.get("alpha", 0.05)),
        "classifier_epochs": int(cfg.classifier.max_epochs),
        "jobs": int(cfg.study.get("jobs", 1)),
        "hardware": hardware(),
        "deviations": list(cfg.get("deviations") or []),
        # where this machine keeps things is no part of the protocol (and no committed file
        # should carry a local path)
        "overrides": [
            o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "paths.", "data.root"))
        ],
        "wall_time_s": wall_time_s,
    }


class RunProgress:
    """One log line per run of the study, the same for every executor: ``[k/N] seed s,
    <scenario> <what> (elapsed, ETA)``, k counting the runs done (started: the one under way).
    The ETA is the time per run this process made so far, counted from when its first run
    started (the generators trained before it are not runs), times the runs it has still to
    make (none made yet: no ETA)."""

    def __init__(self, total: int, to_make: int, timer: Timer) -> None:
        self.total, self.left, self.timer = total, to_make, timer
        self.done = 0  # runs skipped or ended so far
        self.made = 0
        self.first_start: float | None = None  # the study's elapsed seconds at the first run

    def _log(self, k: int, seed: int, scenario: str, what: str) -> None:
        elapsed = self.timer.elapsed
        per_run = (elapsed - (self.first_start or 0.0)) / max(self.made, 1)
        eta = f", ETA {clock(per_run * self.left)}" if self.made and self.left else ""
        when = f"elapsed {clock(elapsed)}{eta}"
        log.info("[%d/%d] seed %d, %s %s (%s)", k, self.total, seed, scenario, what, when)

    def skipped(self, seed: int, scenario: str) -> None:
        self.done += 1
        self._log(self.done, seed, scenario, "already finished, skipped")

    def started(self, seed: int, scenario: str) -> None:
        if self.first_start is None:
            self.first_start = self.timer.elapsed
        self._log(self.done + 1, seed, scenario, "started")

    def ended(self, seed: int, scenario: str, finished: bool, why: str = "see failed.json") -> None:
        self.done, self.made, self.left = self.done + 1, self.made + 1, self.left - 1
        self._log(self.done, seed, scenario, "finished" if finished else f"failed ({why})")


def gans_first(todo: list[tuple[int, str, DictConfig]], train) -> None:
    """Train the generators the runs ``todo`` need, each once into the cache, before any run:
    ``train(labels, configs, done)`` trains them and calls ``done(i, ok, value)`` for each. A
    generator that fails is logged; its runs try again and record the failure."""
    generators = needed_gans(todo)
    if not generators:
        return
    labels, cfgs = zip(*generators.values(), strict=True)
    log.info("%d generators first, each trained once into the cache", len(generators))
    timer, ended = Timer(), []

    def done(i: int, ok: bool, value) -> None:
        ended.append(i)
        left = len(labels) - len(ended)
        eta = f", ETA {clock(timer.elapsed / len(ended) * left)}" if left else ""
        outcome = "trained" if ok else f"failed: {value}"
        when = f"[{len(ended)}/{len(labels)}] (elapsed {clock(timer.elapsed)}{eta})"
        log.log(logging.INFO if ok else logging.ERROR, "%s %s %s", labels[i], outcome, when)

    train(list(cfgs), done)


def run_here(
    runs: list[tuple[int, str, DictConfig]], resume: bool, timer: Timer, after_each
) -> int:
    """The study's runs one after the other in this process (the generators they need first), with
    progress and an ETA; ``after_each()`` is called after every run. Returns how many runs did
    not finish."""
    todo = [r for r in runs if not record.is_finished(r[2].paths.output_dir)]

    def train(cfgs: list[DictConfig], done) -> None:
        for i, cfg in enumerate(cfgs):
            try:
                generator_for_run(cfg)
            except Exception as err:  # its runs try again and record the failure
                done(i, False, f"{type(err).__name__}: {err}".splitlines()[0])
            else:
                done(i, True, None)

    gans_first(todo, train)
    progress, failed = RunProgress(len(runs), len(todo), timer), 0
    for seed, scenario, run_cfg in runs:
        if record.is_finished(run_cfg.paths.output_dir):
            progress.skipped(seed, scenario)
            after_each()
            continue
        progress.started(seed, scenario)
        finished = run_one(run_cfg, resume=resume)
        failed += not finished
        progress.ended(seed, scenario, finished)
        after_each()
    return failed


def run_in_pool(
    runs: list[tuple[int, str, DictConfig]],
    resume: bool,
    timer: Timer,
    after_each,
    jobs: int,
    threads: int | None,
) -> int:
    """The study's runs ``jobs`` at a time in worker processes (``study.jobs``), each with
    ``threads`` torch threads (``study.threads``; default: the cores shared out): first the generators
    the runs need, each trained once into the cache, then the classifier runs. Returns how many
    runs did not finish."""
    threads = threads_per_job(jobs, threads)
    todo = [r for r in runs if not record.is_finished(r[2].paths.output_dir)]
    log.info(
        "%d runs (%d already finished), %d at a time with %d torch threads each",
        len(runs),
        len(runs) - len(todo),
        jobs,
        threads,
    )
    gans_first(
        todo,
        lambda cfgs, done: run_pool(generator_for_run, [(c,) for c in cfgs], jobs, threads, done),
    )
    progress, failed = RunProgress(len(runs), len(todo), timer), 0
    progress.done = len(runs) - len(todo)  # skipped, not listed one by one

    def run_done(i: int, ok: bool, value) -> None:
        nonlocal failed
        seed, scenario, _ = todo[i]
        finished = ok and value is True
        failed += not finished
        progress.ended(seed, scenario, finished, "see failed.json" if ok else str(value))
        after_each()

    run_pool(run_one, [(r, resume) for _, _, r in todo], jobs, threads, run_done)
    return failed


def _finish(root: Path, timer: Timer, failed: int, total: int) -> int:
    report = write_report(root)
    log.info(
        "study finished in %s: %d of %d runs failed; report: %s",
        clock(timer.elapsed),
        failed,
        total,
        report,
    )
    return 1 if failed else 0


@hydra.main(version_base="1.3", config_path="../conf", config_name="study")
@command
def main(cfg: DictConfig) -> None:
    """Hydra entry point; exits 1 when a run failed."""
    hydra_cfg = HydraConfig.get()
    launcher = None
    if str(hydra_cfg.launcher.get("_target_", "")).endswith(SLURM_LAUNCHER):
        # the launcher's requests interpolate the run's config (trainer.resources): put the two
        # back together, as they are in a sweep
        whole = OmegaConf.merge(
            {"hydra": OmegaConf.to_container(hydra_cfg, resolve=False)},
            OmegaConf.to_container(cfg, resolve=False),
        )
        launcher = whole.hydra.launcher
    status = study(cfg, list(hydra_cfg.overrides.task), launcher)
    if status:
        sys.exit(status)


if __name__ == "__main__":
    run_command(main)
