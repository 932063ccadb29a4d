"""From run folders to tables: find the finished and failed runs, summarize over seeds, compare
each scenario with a baseline. Reads nothing but the run records and the planned runs
(``<dir>/study.json``, or else a Hydra sweep's ``<dir>/multirun.yaml``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob, Override
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from imbalance_gan.reporting import record
from imbalance_gan.reporting.stats import holm, mean_ci, paired_difference
from imbalance_gan.runtime.errors import UserError

# Display order when study.json does not give one; unknown scenarios follow, alphabetically.
SCENARIO_ORDER = tuple("original vanilla dcgan cgan oversample weighted affine smote full".split())
# Where classify's config groups live: a sweep's glob(...) choices are these files.
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
# Fewer paired seeds than this: the t-test has too little to stand on, so we do not report one.
MIN_PAIRS_FOR_TEST = 3


def read_study(root: str | Path) -> dict[str, Any]:
    """``<root>/study.json`` as a dict, or {} when there is none."""
    path = Path(root) / "study.json"
    if not path.is_file():
        return {}
    try:
        return record.read(path)
    except record.RecordError as err:
        raise UserError(f"cannot read {path}: {err}") from err


def read_sweep_plan(root: str | Path) -> list[tuple[str, int]]:
    """The (scenario, seed) runs a Hydra sweep planned, from ``<root>/multirun.yaml``; [] without one.

    Expands the overrides (``hydra.sweeper.params``, then the command line's) as Hydra's basic
    sweeper does; an absent scenario or seed is the sweep config's own (original, 0 by default).
    """
    path = Path(root) / "multirun.yaml"
    if not path.is_file():
        return []
    try:
        cfg = OmegaConf.load(path)
        if OmegaConf.select(cfg, "task", default="classify") != "classify":
            return []  # a sweep of another entry point (train's GANs)
        params = OmegaConf.select(cfg, "hydra.sweeper.params", default=None) or {}
        task = OmegaConf.select(cfg, "hydra.overrides.task", default=None) or []
        scenario = OmegaConf.select(cfg, "scenario.name", default="original")
        grid = {"scenario": [scenario], "seed": [OmegaConf.select(cfg, "seed", default=0)]}
        overrides = [f"{k}={v}" for k, v in params.items()] + list(task)
        for o in OverridesParser.create().parse_overrides(overrides):
            if o.key_or_group in grid and o.package is None and not o.is_delete():
                grid[o.key_or_group] = _values(o)
        return [(str(s), int(seed)) for s in grid["scenario"] for seed in grid["seed"]]
    except (
        OSError,
        ValueError,
        TypeError,
        yaml.YAMLError,
        HydraException,
        OmegaConfBaseException,
    ) as err:
        raise UserError(f"cannot read the planned runs from {path}: {err}") from err


def _values(override: Override) -> list:
    if not override.is_sweep_override():
        return [override.value()]
    if isinstance(override.value(), Glob):  # Hydra filters the group's config files
        options = sorted(p.stem for p in (CONF_DIR / override.key_or_group).glob("*.yaml"))
        return override.value().filter(options)
    return list(override.sweep_string_iterator())


def _planned(root: Path, study: dict) -> tuple[list[tuple[Any, Any]], str]:
    """Runs that study.json, or else multirun.yaml, plans; and the error of a missing one."""
    if (root / "study.json").is_file():
        grid = list(product(study.get("scenarios", []), study.get("seeds", [])))
        return grid, "missing: no metrics.json or failed.json (not run yet?)"
    return read_sweep_plan(root), "missing: no metrics.json (run unfinished or killed)"


def _failure(rec: dict, run_dir: Path | None, error: str) -> dict[str, Any]:
    return {
        "scenario": rec.get("scenario", "?"),
        "seed": rec.get("seed", "?"),
        "error": error,
        "run_dir": "" if run_dir is None else str(run_dir),
    }


def collect_runs(root: str | Path, minority_class: int = 0) -> tuple[list[dict], list[dict]]:
    """Find classify runs at any depth under ``root``: (one flat row per run, failed runs).

    Failures are ``failed.json`` files, unreadable ``metrics.json`` files, and runs that
    ``study.json`` (or else a sweep's ``multirun.yaml``) plans but that left no file. A failure
    superseded by a finished run of the same scenario and seed is dropped. Two finished runs of
    one (experiment, scenario, seed) are an error.
    """
    root = Path(root)
    rows, failures, finished_dirs = [], [], set()
    for path in sorted(root.rglob(record.RECORD_FILE)):
        try:
            rec = record.read(path)
        except record.RecordError as err:
            failures.append(_failure({}, path.parent, str(err)))
            continue
        if rec.get("kind") != "classify":
            continue
        try:
            rows.append(record.to_row(rec, path.parent, minority_class))
            finished_dirs.add(path.parent)
        except (KeyError, IndexError, TypeError, ValueError) as err:
            failures.append(_failure(rec, path.parent, f"malformed metrics.json: {err!r}"))
    for path in sorted(root.rglob(record.FAILURE_FILE)):
        if path.parent in finished_dirs:
            continue
        try:
            rec = record.read(path)
        except record.RecordError as err:
            rec = {"kind": "classify", "error": str(err)}
        if rec.get("kind") == "classify":
            failures.append(_failure(rec, path.parent, str(rec.get("error", "?"))))
    _check_unique(rows)
    done = {(r["scenario"], r["seed"]) for r in rows}
    failures = [f for f in failures if (f["scenario"], f["seed"]) not in done]
    study = read_study(root)
    seen = done | {(f["scenario"], f["seed"]) for f in failures}
    planned, missing = _planned(root, study)
    for scenario, seed in planned:
        if (scenario, seed) not in seen:
            failures.append(_failure({"scenario": scenario, "seed": seed}, None, missing))
    rank = _scenario_rank(study.get("scenarios") or SCENARIO_ORDER)
    rows.sort(key=lambda r: (rank(r["scenario"]), r["seed"]))
    failures.sort(key=lambda f: (rank(str(f["scenario"])), str(f["seed"])))
    return rows, failures


def _scenario_rank(order: Sequence[str]):
    return lambda s: (order.index(s), "") if s in order else (len(order), s)


def _check_unique(rows: list[dict]) -> None:
    seen: dict[tuple, str] = {}
    for r in rows:
        key = (r["experiment"], r["scenario"], r["seed"])
        if key in seen:
            raise UserError(
                f"two runs of scenario {key[1]} seed {key[2]}: {seen[key]} and "
                f"{r['run_dir']}; point the report at one study"
            )
        seen[key] = r["run_dir"]


def is_number(value: Any) -> bool:
    """True for an int or float that is not NaN."""
    return isinstance(value, int | float) and not math.isnan(value)


def _by_scenario(rows: Sequence[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["scenario"], []).append(r)
    return groups


def summarize(rows: Sequence[dict], metrics: Sequence[str] | None = None) -> list[dict]:
    """One row per scenario: n_seeds and ``<metric>/mean``, ``/ci_low``, ``/ci_high`` (95%, t).

    ``metrics`` defaults to every metric-path column (``test/...``, ``gan/...``) the rows carry.
    """
    if metrics is None:
        metrics = list(dict.fromkeys(k for r in rows for k in r if "/" in k))
    out = []
    for scenario, group in _by_scenario(rows).items():
        row: dict[str, Any] = {"scenario": scenario, "n_seeds": len({r["seed"] for r in group})}
        for name in metrics:
            values = [r[name] for r in group if is_number(r.get(name))]
            if values:
                stats = zip(("mean", "ci_low", "ci_high"), mean_ci(values), strict=True)
                row.update({f"{name}/{s}": v for s, v in stats})
        out.append(row)
    return out


def summary_columns(summary: Sequence[dict]) -> list[str]:
    """Columns of summary.csv: scenario, n_seeds, then ``<metric>/mean|ci_low|ci_high``."""
    return ["scenario", "n_seeds", *dict.fromkeys(c for s in summary for c in s if "/" in c)]


def compare_to_baseline(
    rows: Sequence[dict],
    baseline: str = "original",
    metrics: Sequence[str] = ("test/f1_c0", "test/recall_c0"),
) -> list[dict]:
    """Paired (by seed) difference scenario - baseline per metric; [] without baseline runs.

    Each dict: scenario, baseline, metric, mean_diff, low, high, p_value, n, tested (n >= 3) and,
    when tested, p_holm (Holm-adjusted over all tested comparisons in the list).
    """
    base = {r["seed"]: r for r in rows if r["scenario"] == baseline}
    if not base:
        return []
    out = []
    for scenario, group in _by_scenario(rows).items():
        if scenario == baseline:
            continue
        for metric in metrics:
            pairs = [
                (r[metric], base[r["seed"]][metric])
                for r in group
                if r["seed"] in base
                and is_number(r.get(metric))
                and is_number(base[r["seed"]].get(metric))
            ]
            result = paired_difference([a for a, _ in pairs], [b for _, b in pairs])
            out.append({"scenario": scenario, "baseline": baseline, "metric": metric, **result})
            out[-1]["tested"] = result["n"] >= MIN_PAIRS_FOR_TEST
    tested = [c for c in out if c["tested"]]
    for c, p in zip(tested, holm([c["p_value"] for c in tested]), strict=True):
        c["p_holm"] = p
    return out
