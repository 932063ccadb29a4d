"""From run folders to tables: find the finished and failed runs, summarize over seeds, compare
each scenario with a baseline. Reads nothing but the run records and the planned runs
(``<dir>/study.json``, or else a Hydra sweep's ``<dir>/multirun.yaml``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
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


def _failure(rec: dict, run_dir: str | None, error: str) -> dict[str, Any]:
    return {
        "scenario": rec.get("scenario", "?"),
        "seed": rec.get("seed", "?"),
        "error": error,
        "run_dir": run_dir or "",
    }


def minority_of(records: Sequence[dict]) -> list[int]:
    """The minority classes of a set of classify records (a ``full`` run, which cuts nothing,
    has none and does not count); several different sets are an error."""
    found = {tuple(r.get("minority_classes") or ()) for r in records} - {()}
    if len(found) > 1:
        sets = ", ".join(str(list(f)) for f in sorted(found))
        raise UserError(
            f"runs with different minority classes ({sets}); report one setting at a time"
        )
    return list(found.pop()) if found else [0]


def collect_runs(
    root: str | Path, minority: Sequence[int] | None = None
) -> tuple[list[dict], list[dict], list[int]]:
    """Find classify runs at any depth under ``root``: (one flat row per run, failed runs, the
    minority classes: ``minority``, or else the runs' own).

    Failures are ``failed.json`` files, unreadable ``metrics.json`` files, and runs that
    ``study.json`` (or else a sweep's ``multirun.yaml``) plans but that left no file. A failure
    superseded by a finished run of the same scenario and seed is dropped. Two finished runs of
    one (experiment, scenario, seed) are an error.
    """
    root = Path(root)
    finished, failures, finished_dirs = [], [], set()
    for path in sorted(root.rglob(record.RECORD_FILE)):
        try:
            rec = record.read(path)
        except record.RecordError as err:
            failures.append(_failure({}, _relative(path.parent, root), str(err)))
            continue
        if rec.get("kind") == "classify":
            finished.append((rec, path.parent))
    minority = list(minority) if minority is not None else minority_of([r for r, _ in finished])
    rows = []
    for rec, run_dir in finished:
        try:
            rows.append(record.to_row(rec, run_dir, _relative(run_dir, root), minority))
            finished_dirs.add(run_dir)
        except (KeyError, IndexError, TypeError, ValueError) as err:
            failures.append(
                _failure(rec, _relative(run_dir, root), f"malformed metrics.json: {err!r}")
            )
    for path in sorted(root.rglob(record.FAILURE_FILE)):
        if path.parent in finished_dirs:
            continue
        try:
            rec = record.read(path)
        except record.RecordError as err:
            rec = {"kind": "classify", "error": str(err)}
        if rec.get("kind") == "classify":
            failures.append(_failure(rec, _relative(path.parent, root), str(rec.get("error", "?"))))
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
    return rows, failures, minority


def _relative(path: Path, root: Path) -> str:
    """``path`` as the report names it: relative to the report's root, never absolute."""
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return path.name


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


SUMMARY_STATS = ("mean", "ci_low", "ci_high")


def summarize(rows: Sequence[dict], metrics: Sequence[str] | None = None) -> list[dict]:
    """One row per scenario: n_seeds, ``<metric>/mean``, ``/ci_low``, ``/ci_high`` (95%, t)
    and ``<metric>/seeds`` (the per-seed values, in seed order).

    A discrete quantity (:data:`record.DISCRETE`), or a bounded one whose t-interval leaves
    [0, 1], gets no interval (``ci_low``/``ci_high`` are None): show its seeds instead.
    ``metrics`` defaults to every metric-path column (``test/...``, ``gan/...``) the rows carry.
    """
    if metrics is None:
        metrics = [
            k
            for k in dict.fromkeys(k for r in rows for k in r if "/" in k)
            if any(is_number(r.get(k)) for r in rows)
        ]
    out = []
    for scenario, group in _by_scenario(rows).items():
        row: dict[str, Any] = {"scenario": scenario, "n_seeds": len({r["seed"] for r in group})}
        for name in metrics:
            values = [
                r[name] for r in sorted(group, key=lambda r: r["seed"]) if is_number(r.get(name))
            ]
            if not values:
                continue
            mean, low, high = mean_ci(values)
            if name in record.DISCRETE or (
                record.is_bounded(name) and is_number(low) and (low < 0 or high > 1)
            ):
                low = high = None
            row.update({f"{name}/mean": mean, f"{name}/ci_low": low, f"{name}/ci_high": high})
            row[f"{name}/seeds"] = values
        out.append(row)
    return out


def summary_columns(summary: Sequence[dict]) -> list[str]:
    """Columns of summary.csv: scenario, n_seeds, then ``<metric>/mean|ci_low|ci_high``."""
    names = dict.fromkeys(c for s in summary for c in s if c.endswith(SUMMARY_STATS))
    return ["scenario", "n_seeds", *names]


def _paired(rows: Sequence[dict], baseline: str, metrics: Sequence[str]) -> list[dict]:
    """Paired (by seed) differences scenario - baseline, per metric; no Holm yet."""
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
            # a zero-variance difference has no p-value (nan): no test, left out of Holm
            out[-1]["tested"] = result["n"] >= MIN_PAIRS_FOR_TEST and is_number(result["p_value"])
    return out


def _holm(comparisons: list[dict]) -> list[dict]:
    tested = [c for c in comparisons if c["tested"]]
    for c, p in zip(tested, holm([c["p_value"] for c in tested]), strict=True):
        c["p_holm"] = p
    return comparisons


def compare_to_baseline(
    rows: Sequence[dict],
    baseline: str = "original",
    metrics: Sequence[str] = ("test/f1_c0", "test/recall_c0"),
) -> list[dict]:
    """Paired (by seed) difference scenario - baseline per metric; [] without baseline runs.

    Each dict: scenario, baseline, metric, mean_diff, low, high, p_value, n, tested (n >= 3 and
    a p-value exists) and, when tested, p_holm (Holm-adjusted over the tested comparisons).
    """
    return _holm(_paired(rows, baseline, metrics))


def classic_ranking(rows: Sequence[dict], val_metrics: Sequence[str]) -> list[tuple[str, list]]:
    """The classic scenarios (``family: classic``), best first, by their mean of each of
    ``val_metrics`` over seeds (validation split), the first metric first and the next ones
    breaking ties (a validation split of a few dozen minority images often ties); then by name
    order. Each entry: (scenario, [mean of each metric])."""
    ranked = []
    for scenario, group in _by_scenario(rows).items():
        if group[0].get("family") != "classic":
            continue
        means = [
            float(np.mean(values))
            if (values := [r[m] for r in group if is_number(r.get(m))])
            else -math.inf
            for m in val_metrics
        ]
        if means and means[0] > -math.inf:
            ranked.append((scenario, means))
    return sorted(ranked, key=lambda item: [-m for m in item[1]])


def best_classic(rows: Sequence[dict], val_metric: str, *tie_breakers: str) -> str | None:
    """The classic scenario with the highest mean ``val_metric`` over its seeds (ties broken by
    ``tie_breakers``): a choice made on the validation split, never on the test set. None
    without a classic scenario."""
    ranking = classic_ranking(rows, (val_metric, *tie_breakers))
    return ranking[0][0] if ranking else None


def compare_to_best_classic(
    rows: Sequence[dict], metrics: Sequence[tuple[str, str]], named: str | None = None
) -> list[dict]:
    """Each generative scenario against the best classic one, per (test metric, validation
    metric) pair: the classic scenario ``named`` in config, or else the one with the best mean
    validation metric. Dicts as :func:`compare_to_baseline`'s, plus ``chosen_on``; Holm runs
    over every tested comparison in the list."""
    out = []
    val_metrics = [v for _, v in metrics]
    for test_metric, val_metric in metrics:
        others = [v for v in val_metrics if v != val_metric]
        best = named or best_classic(rows, val_metric, *others)
        if best is None:
            continue
        group = [r for r in rows if r.get("family") == "generative" or r["scenario"] == best]
        for c in _paired(group, best, (test_metric,)):
            c["chosen_on"] = "config (study.best_classic)" if named else f"validation {val_metric}"
            out.append(c)
    return _holm(out)
