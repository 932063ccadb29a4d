"""``python -m imbalance_gan.study``: every scenario over every seed, then the report.

Resumable: a run whose ``metrics.json`` exists is skipped, so the same command with the same
output dir (``hydra.run.dir=...``) redoes only what is missing. One failed run writes
``failed.json``, shows up in the report and the exit status, and does not stop the others.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from imbalance_gan.classifier.pipeline import classify, record_failure
from imbalance_gan.data import datamodule_from_config
from imbalance_gan.reporting import record
from imbalance_gan.reporting.build import write_report
from imbalance_gan.runtime.errors import UserError, report_user_errors
from imbalance_gan.runtime.files import read_json, write_json
from imbalance_gan.runtime.trainer import Timer, hardware, output_dir

log = logging.getLogger("imbalance_gan.study")


def run_dir(root: Path, seed: int, scenario: str) -> Path:
    """Where one run of the study lives."""
    return root / "runs" / f"seed{seed}" / scenario


def plan_runs(
    cfg: DictConfig, overrides: list[str], root: Path
) -> list[tuple[int, str, DictConfig]]:
    """Compose the classify config of every (seed, scenario); fails on a bad name before any work."""
    seeds = [int(s) for s in cfg.study.seeds]
    scenarios = list(cfg.study.scenarios)
    if not seeds or not scenarios:
        raise UserError("study.seeds and study.scenarios must each name at least one value")
    if len(set(seeds)) != len(seeds) or len(set(scenarios)) != len(scenarios):
        raise UserError("study.seeds and study.scenarios must not repeat a value")
    for key in ("baseline", "best_classic"):
        name = cfg.study.get(key)
        if name is not None and name not in scenarios:
            raise UserError(f"study.{key}={name} is not one of study.scenarios {scenarios}")
    keep = [
        o
        for o in overrides
        if not o.lstrip("+~").startswith(("study.", "study=", "seed=", "scenario=", "hydra"))
    ]
    runs = []
    for seed in seeds:
        for scenario in scenarios:
            try:
                run_cfg = compose(
                    config_name="classify",
                    overrides=[*keep, f"scenario={scenario}", f"seed={seed}"],
                )
            except Exception as err:
                raise UserError(
                    f"study.scenarios: cannot compose scenario={scenario}: {str(err).splitlines()[0]}"
                ) from None
            with open_dict(run_cfg):
                run_cfg.paths.output_dir = str(run_dir(root, seed, scenario))
                run_cfg.paths.artifact_dir = str(Path(cfg.paths.artifact_dir).resolve())
                run_cfg.resume = bool(cfg.resume)
            runs.append((seed, scenario, run_cfg))
    named = cfg.study.get("best_classic")
    family = next(r.scenario.get("family") for _, s, r in runs if s == named) if named else None
    if named and family != "classic":
        raise UserError(
            f"study.best_classic={named} is not a classic scenario (its family: {family})"
        )
    return runs


def run_one(run_cfg: DictConfig, resume: bool) -> bool:
    """One classify run into its dir; True when it finished. Failures leave ``failed.json``."""
    out = Path(run_cfg.paths.output_dir)
    if (out / record.RECORD_FILE).is_file():
        return True
    (out / record.FAILURE_FILE).unlink(missing_ok=True)
    if out.exists() and not resume:
        shutil.rmtree(out)  # an unfinished run without resume: start it clean
    try:
        classify(run_cfg)
        return True
    except Exception as err:
        record_failure(run_cfg, err)
        return False


def study(cfg: DictConfig, overrides: list[str]) -> int:
    """Run the study into the output dir and write the report; returns the exit status."""
    timer = Timer()
    root = output_dir(cfg)
    runs = plan_runs(cfg, overrides, root)
    datamodule_from_config(cfg.data, cfg.classifier.batch_size)  # data and counts valid?
    previous = read_json(root / "study.json") if (root / "study.json").is_file() else {}
    info = {
        "experiment": cfg.get("experiment"),
        "seeds": [int(s) for s in cfg.study.seeds],
        "scenarios": list(cfg.study.scenarios),
        "baseline": cfg.study.baseline,
        "best_classic": cfg.study.best_classic,
        "classifier_epochs": int(cfg.classifier.max_epochs),
        "hardware": hardware(),
        "deviations": list(cfg.get("deviations") or []),
        # where this machine keeps things is no part of the protocol (and no committed file
        # should carry a local path)
        "overrides": [
            o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "paths.", "data.root"))
        ],
        "wall_time_s": previous.get("wall_time_s", 0.0),
    }
    write_json(root / "study.json", info)
    OmegaConf.save(cfg, root / "study_config.yaml", resolve=True)

    failed = 0
    todo = [not (Path(r.paths.output_dir) / record.RECORD_FILE).is_file() for _, _, r in runs]
    ran = 0  # runs made by this process: the ETA is their mean time times the runs left
    for k, (seed, scenario, run_cfg) in enumerate(runs, 1):
        done = not todo[k - 1]
        left = sum(todo[k - 1 :])
        eta = f", ETA {_hms(timer.elapsed / ran * left)}" if ran and not done else ""
        log.info(
            "[%d/%d] seed %d, %s%s (elapsed %s%s)",
            k,
            len(runs),
            seed,
            scenario,
            " already finished, skipped" if done else "",
            _hms(timer.elapsed),
            eta,
        )
        failed += not run_one(run_cfg, resume=bool(cfg.resume))
        ran += not done
        info["wall_time_s"] = round(previous.get("wall_time_s", 0.0) + timer.elapsed, 1)
        write_json(root / "study.json", info)

    report = write_report(root)
    log.info(
        "study finished in %s: %d of %d runs failed; report: %s",
        _hms(timer.elapsed),
        failed,
        len(runs),
        report,
    )
    return 1 if failed else 0


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@hydra.main(version_base="1.3", config_path="../conf", config_name="study")
@report_user_errors
def main(cfg: DictConfig) -> None:
    """Hydra entry point; exits 1 when a run failed."""
    status = study(cfg, list(HydraConfig.get().overrides.task))
    if status:
        sys.exit(status)


if __name__ == "__main__":
    main()
