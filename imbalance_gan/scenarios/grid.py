"""A study's runs: every scenario (a data operation, ``conf/scenario/``) with every classifier
fix of ``study.fixes`` (overrides of the classifier's config groups, ``study.fix_overrides``),
over every seed, each composed into its classify config before any run starts.

A run of scenario ``s`` with fix ``f`` is named ``s_f`` (``s`` with no fix; on ``original`` the
fix's own scenario, ``logit_adjust``), and composes to exactly the config of the stacked
scenario file of that name (``elastic_la``), so studies made with either resume with the other.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra import compose
from omegaconf import DictConfig, open_dict

from imbalance_gan.data import cuts_nothing
from imbalance_gan.runtime.errors import UserError

log = logging.getLogger("imbalance_gan.study")


def run_dir(root: Path, seed: int, scenario: str) -> Path:
    """Where one run of the study lives."""
    return root / "runs" / f"seed{seed}" / scenario


#: the plain data with a fix is the fix's own scenario, named as its file is (conf/scenario/)
ALONE = {"la": "logit_adjust"}


def run_name(scenario: str, fix: str) -> str:
    """The name of scenario ``scenario`` trained with fix ``fix``: ``<scenario>_<fix>``, the
    scenario's own with no fix (``none``), and the fix's own scenario on ``original`` data
    (``logit_adjust``, ``focal``, ...), so that every name is the committed one."""
    if fix == "none":
        return scenario
    return ALONE.get(fix, fix) if scenario == "original" else f"{scenario}_{fix}"


def _check_axes(cfg: DictConfig) -> tuple[list[int], list[str], list[str]]:
    """The study's seeds, scenarios and fixes, each checked (none empty, none repeated, every
    fix known), with ``jobs`` and ``threads``."""
    seeds = [int(s) for s in cfg.study.seeds]
    scenarios = list(cfg.study.scenarios)
    fixes = list(cfg.study.get("fixes") or ["none"])
    if not seeds or not scenarios:
        raise UserError("study.seeds and study.scenarios must each name at least one value")
    for key, values in (("seeds", seeds), ("scenarios", scenarios), ("fixes", fixes)):
        if len(set(values)) != len(values):
            raise UserError(f"study.{key} must not repeat a value")
    known = cfg.study.get("fix_overrides") or {}
    unknown = [f for f in fixes if f not in known]
    if unknown:
        raise UserError(
            f"study.fixes: {', '.join(map(str, unknown))} is not a fix of study.fix_overrides "
            f"({', '.join(known)})"
        )
    for key, least in (("jobs", 1), ("threads", 1)):
        value = cfg.study.get(key)
        if value is None and key == "threads":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UserError(f"study.{key}={value!r} must be a whole number, at least {least}")
    return seeds, scenarios, fixes


def run_names(cfg: DictConfig) -> list[str]:
    """The study's runs per seed, in order: every scenario with every fix."""
    _, scenarios, fixes = _check_axes(cfg)
    return _names(scenarios, fixes)


def _names(scenarios: list[str], fixes: list[str]) -> list[str]:
    names = [run_name(s, f) for s in scenarios for f in fixes]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"study.scenarios x study.fixes names {', '.join(twice)} twice")
    return names


def _compose_run(keep: list[str], scenario: str, fix_overrides: list[str], seed: int) -> DictConfig:
    """The classify config of one run; a fix that sets a classifier group the scenario sets
    too is refused (the fix would silently replace the scenario's own)."""
    try:
        run_cfg = compose(
            config_name="classify",
            overrides=[*keep, f"scenario={scenario}", *fix_overrides, f"seed={seed}"],
            return_hydra_config=bool(fix_overrides),
        )
    except Exception as err:
        raise UserError(
            f"study.scenarios: cannot compose scenario={scenario} with "
            f"{' '.join(fix_overrides) or 'no fix'}: {str(err).splitlines()[0]}"
        ) from None
    if fix_overrides:
        with open_dict(run_cfg):
            del run_cfg["hydra"]
    return run_cfg


def _fix_groups(fix_overrides: list[str]) -> list[str]:
    """The classifier config groups a fix's overrides choose (``classifier/loss``, ...)."""
    return [o.split("=")[0].lstrip("+~") for o in fix_overrides if "/" in o.split("=")[0]]


def _group_choices(keep: list[str], scenario: str) -> dict[str, str]:
    """The config group choices of ``scenario``'s classify config (which loss, sampler, ...)."""
    composed = compose(
        config_name="classify", overrides=[*keep, f"scenario={scenario}"], return_hydra_config=True
    )
    return dict(composed.hydra.runtime.choices)


def _check_fixes(keep: list[str], scenarios: list[str], table: dict[str, list[str]]) -> None:
    """Refuse a fix that sets a classifier group a scenario already sets to other than the
    default (``original``'s): the fix would silently replace the scenario's own."""
    groups = {fix: _fix_groups(overrides) for fix, overrides in table.items()}
    if not any(groups.values()):
        return
    choices = {name: _group_choices(keep, name) for name in {*scenarios, "original"}}
    for scenario in scenarios:
        for fix, fixed in groups.items():
            clashes = [g for g in fixed if choices[scenario].get(g) != choices["original"].get(g)]
            if clashes:
                raise UserError(
                    f"study: scenario={scenario} already sets {', '.join(clashes)}, which fix "
                    f"{fix} would replace; pair it with fix none (or name the stacked scenario)"
                )


def plan_runs(
    cfg: DictConfig, overrides: list[str], root: Path
) -> list[tuple[int, str, DictConfig]]:
    """Compose the classify config of every (seed, scenario x fix); fails on a bad name or
    combination before any work."""
    seeds, scenarios, fixes = _check_axes(cfg)
    names = _names(scenarios, fixes)
    for key in ("baseline", "best_classic"):
        name = cfg.study.get(key)
        if name is not None and name not in names:
            raise UserError(f"study.{key}={name} is not one of the study's runs {names}")
    keep = [
        o
        for o in overrides
        if not o.lstrip("+~").startswith(("study.", "study=", "seed=", "scenario=", "hydra"))
    ]
    table = {f: list(cfg.study.fix_overrides[f]) for f in fixes}
    _check_fixes(keep, scenarios, table)
    runs, left_out = [], set()
    for seed in seeds:
        for scenario in scenarios:
            for fix in fixes:
                name = run_name(scenario, fix)
                run_cfg = _compose_run(keep, scenario, table[fix], seed)
                if run_cfg.scenario.get("balanced") and cuts_nothing(run_cfg.data):
                    left_out.add(name)  # the data as it is: that is original
                    continue
                with open_dict(run_cfg):
                    run_cfg.scenario.name = name
                    if fix != "none" and run_cfg.scenario.family == "reference":
                        run_cfg.scenario.family = "classic"  # the plain data with a fix
                    run_cfg.paths.output_dir = str(run_dir(root, seed, name))
                    run_cfg.paths.artifact_dir = str(Path(cfg.paths.artifact_dir).resolve())
                    run_cfg.resume = bool(cfg.resume)
                runs.append((seed, name, run_cfg))
    named = cfg.study.get("best_classic")
    family = next(r.scenario.get("family") for _, s, r in runs if s == named) if named else None
    if named and family != "classic":
        raise UserError(
            f"study.best_classic={named} is not a classic scenario (its family: {family})"
        )
    if left_out:
        log.warning(
            "left out %s: nothing is cut (data.minority_count=null), so training on every image "
            "the data has is scenario=original",
            ", ".join(sorted(left_out)),
        )
    return runs
