"""Find the runs of a study or sweep folder: finished runs as rows, failed and missing ones.
Reads nothing but the run records and the planned runs (``<dir>/study.json``, or else a Hydra
sweep's ``<dir>/multirun.yaml``)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from itertools import islice, product
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob, Override, RangeSweep
from hydra.errors import HydraException

from imbalance_gan import record
from imbalance_gan.record import plain
from imbalance_gan.record.upgrade import upgrade
from imbalance_gan.reporting import columns
from imbalance_gan.runtime.errors import UserError

#: the scenario families (``scenario.family``) in display order; scenarios that study.json does
#: not order follow by family, then by name (an unknown family last)
FAMILY_ORDER = ("reference", "classic", "generative")
# Where classify's config groups live: a sweep's glob(...) choices are these files.
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


#: the most runs a sweep's ``multirun.yaml`` may plan (and values one swept key may take): a
#: study of a few hundred runs is large; a line such as ``seed=range(0,1000000000000)`` would
#: otherwise be expanded in memory
MAX_PLANNED_RUNS = 100_000

#: what the report reads of study.json: key -> (a check of its value, what it must be)
_STUDY_KEYS: dict[str, tuple[Any, str]] = {
    "scenarios": (lambda v: _list_of(v, str), "a list of scenario names"),
    "seeds": (lambda v: _list_of(v, int), "a list of integer seeds"),
    "baseline": (lambda v: isinstance(v, str), "a scenario name"),
    "best_classic": (lambda v: isinstance(v, str), "a scenario name"),
    "experiment": (lambda v: isinstance(v, str), "a string"),
    "hardware": (lambda v: isinstance(v, str), "a string"),
    "alpha": (lambda v: _is_real(v) and 0 < v < 1, "a number between 0 and 1"),
    "wall_time_s": (lambda v: _is_real(v) and v >= 0, "a number of seconds"),
    "deviations": (lambda v: _list_of(v, str), "a list of strings"),
}


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _list_of(v: Any, kind: type) -> bool:
    return isinstance(v, list) and all(isinstance(x, kind) and not isinstance(x, bool) for x in v)


def read_study(root: str | Path) -> dict[str, Any]:
    """``<root>/study.json`` as a dict, or {} when there is none; UserError naming the key when
    a field the report reads holds another type (null: not given)."""
    path = Path(root) / "study.json"
    if not os.path.lexists(path):
        return {}
    try:
        study = record.read(path)
    except record.RecordError as err:
        raise UserError(f"cannot read {path}: {err}") from err
    for key, (valid, what) in _STUDY_KEYS.items():
        if study.get(key) is not None and not valid(study[key]):
            raise UserError(f"{path}: {key} must be {what}, not {_shown(study[key])}")
    return study


def _shown(value: Any) -> str:
    """``value`` for an error line: its JSON, cut short."""
    text = json.dumps(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def read_sweep_plan(root: str | Path) -> list[tuple[str, int]]:
    """The (scenario, seed) runs a Hydra sweep planned, from ``<root>/multirun.yaml``; [] without one.

    Expands the overrides (``hydra.sweeper.params``, then the command line's) as Hydra's basic
    sweeper does; an absent scenario or seed is the sweep config's own (original, 0 by default).
    """
    path = Path(root) / "multirun.yaml"
    if not path.is_file():
        return []
    try:
        cfg = plain.load_plain(path)  # data only: nothing in it is resolved or built
        if plain.select(cfg, "task", "classify") != "classify":
            return []  # a sweep of another entry point (train's generators)
        params = plain.select(cfg, "hydra.sweeper.params") or {}
        task = plain.select(cfg, "hydra.overrides.task") or []
        if not isinstance(params, dict):
            raise ValueError("hydra.sweeper.params is not a mapping of key to values")
        if not isinstance(task, list) or not all(isinstance(t, str) for t in task):
            raise ValueError("hydra.overrides.task is not a list of key=value strings")
        scenario = plain.select(cfg, "scenario.name", "original")
        grid = {"scenario": [scenario], "seed": [plain.select(cfg, "seed", 0)]}
        overrides = [f"{k}={v}" for k, v in params.items()] + task
        for o in OverridesParser.create().parse_overrides(overrides):
            if o.key_or_group in grid and o.package is None and not o.is_delete():
                grid[o.key_or_group] = _values(o)
        if len(grid["scenario"]) * len(grid["seed"]) > MAX_PLANNED_RUNS:
            raise ValueError(
                f"it plans {len(grid['scenario'])} scenarios x {len(grid['seed'])} seeds, "
                f"more than {MAX_PLANNED_RUNS:,} runs"
            )
        return [(str(s), int(seed)) for s in grid["scenario"] for seed in grid["seed"]]
    except (
        OSError,
        ValueError,
        TypeError,
        OverflowError,  # seed: .inf
        AttributeError,  # a value of another shape than Hydra writes
        HydraException,
    ) as err:
        why = " ".join(str(err).split())  # Hydra's parse errors span lines
        raise UserError(f"cannot read the planned runs from {path}: {why}") from err


def _values(override: Override) -> list:
    """The values a swept key takes, as Hydra's basic sweeper expands them (at most
    MAX_PLANNED_RUNS; ValueError beyond, before any list of them is made)."""
    if not override.is_sweep_override():
        return [override.value()]
    value = override.value()
    if isinstance(value, Glob):  # Hydra filters the group's config files
        options = sorted(p.stem for p in (CONF_DIR / override.key_or_group).glob("*.yaml"))
        return value.filter(options)
    # a range is counted first: Hydra lists a shuffled one whole
    counted = value.range() if isinstance(value, RangeSweep) else override.sweep_string_iterator()
    if sum(1 for _ in islice(counted, MAX_PLANNED_RUNS + 1)) > MAX_PLANNED_RUNS:
        raise ValueError(
            f"{override.key_or_group} sweeps over more than {MAX_PLANNED_RUNS:,} values"
        )
    return list(override.sweep_string_iterator())


def _planned(root: Path, study: dict) -> tuple[list[tuple[Any, Any]], str]:
    """Runs that study.json, or else multirun.yaml, plans; and the error of a missing one."""
    if os.path.lexists(root / "study.json"):
        grid = list(product(study.get("scenarios") or [], study.get("seeds") or []))
        return grid, "missing: no metrics.json or failed.json (not run yet?)"
    return read_sweep_plan(root), "missing: no metrics.json (run unfinished or killed)"


def _failure(rec: dict, run_dir: str | None, error: str) -> dict[str, Any]:
    return {
        "scenario": _scalar(rec.get("scenario", "?")),
        "seed": _scalar(rec.get("seed", "?")),
        "error": error,
        "run_dir": run_dir or "",
    }


def _scalar(value: Any) -> Any:
    """A record's scenario or seed as a failure row holds it: a list or mapping (which a
    stranger's record may hold) as its JSON text, so that rows can be matched and sorted."""
    return value if value is None or isinstance(value, str | int | float) else _shown(value)


def _identity(run_dir: Path) -> dict[str, Any]:
    """The scenario and seed of a run whose record cannot be read, from the run's
    ``config.yaml`` (plain YAML), else from a study's ``seed<s>/<scenario>`` layout; {} if
    neither says, so that a planned run is not listed twice (unreadable, then missing)."""
    try:
        cfg = plain.load_plain(run_dir / "config.yaml")
        return {"scenario": str(cfg["scenario"]["name"]), "seed": int(cfg["seed"])}
    except Exception:
        pass
    if run_dir.parent.name.startswith("seed") and run_dir.parent.name[4:].isdigit():
        return {"scenario": run_dir.name, "seed": int(run_dir.parent.name[4:])}
    return {}


def _valid_minority(classes: Any) -> bool:
    """Whether a record's ``minority_classes`` is a list of class indices (or absent)."""
    return classes is None or _list_of(classes, int)


def minority_of(records: Sequence[dict]) -> list[int]:
    """The minority classes of a set of upgraded classify records (a ``full`` run, which cuts nothing,
    has none and does not count); several different sets are an error."""
    found = {tuple(r["minority_classes"] or ()) for r in records} - {()}
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
    minority classes: ``minority``, or else the runs' own). Each record is upgraded to the
    current shape as it is read (:func:`~imbalance_gan.record.upgrade.upgrade`); a row's
    ``record`` is the upgraded one.

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
            where = _relative(path.parent, root)
            failures.append(_failure(_identity(path.parent), where, f"{where}: {err}"))
            continue
        if rec.get("kind") != "classify":
            continue
        try:  # the one place a record is upgraded: everything after reads the current shape
            rec = upgrade(rec)
        except record.RecordError as err:
            where = _relative(path.parent, root)
            failures.append(_failure(rec, where, f"{where}: unreadable metrics.json: {err}"))
            continue
        if not _valid_minority(rec["minority_classes"]):
            where = _relative(path.parent, root)
            shown = _shown(rec["minority_classes"])
            error = f"malformed metrics.json: minority_classes is {shown}, not a list of classes"
            failures.append(_failure(rec, where, error))
            continue
        finished.append((rec, path.parent))
    minority = list(minority) if minority is not None else minority_of([r for r, _ in finished])
    rows = []
    for rec, run_dir in finished:
        try:
            rows.append(columns.to_row(rec, run_dir, _relative(run_dir, root), minority))
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
    # the study's own order; without one (a sweep) the baseline first, then by family and name
    order = study.get("scenarios") or (study.get("baseline") or "original",)
    rank = _scenario_rank(order, {r["scenario"]: r["family"] for r in rows})
    rows.sort(key=lambda r: (rank(r["scenario"]), r["seed"]))
    failures.sort(key=lambda f: (rank(str(f["scenario"])), str(f["seed"])))
    return rows, failures, minority


def _relative(path: Path, root: Path) -> str:
    """``path`` as the report names it: relative to the report's root, never absolute."""
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return path.name


def _scenario_rank(order: Sequence[str], family: dict[str, Any]):
    """Sort key of a scenario: its place in the study's list, else its family's, then its name."""
    order = list(order)

    def rank(s: str) -> tuple:
        if s in order:
            return (order.index(s), 0, "")
        f = family.get(s)
        return (len(order), FAMILY_ORDER.index(f) if f in FAMILY_ORDER else len(FAMILY_ORDER), s)

    return rank


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
