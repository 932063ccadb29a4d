"""Find the runs of a study or sweep folder: finished runs as rows, failed and missing ones.
Reads nothing but the run records and the planned runs (``<dir>/study.json``, or else a Hydra
sweep's ``<dir>/multirun.yaml``)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob, Override
from hydra.errors import HydraException

from imbalance_gan import record
from imbalance_gan.record import plain
from imbalance_gan.reporting import columns
from imbalance_gan.runtime.errors import UserError

#: the scenario families (``scenario.family``) in display order; scenarios that study.json does
#: not order follow by family, then by name (an unknown family last)
FAMILY_ORDER = ("reference", "classic", "generative")
# Where classify's config groups live: a sweep's glob(...) choices are these files.
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


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
        cfg = plain.load_plain(path)  # data only: nothing in it is resolved or built
        if plain.select(cfg, "task", "classify") != "classify":
            return []  # a sweep of another entry point (train's GANs)
        params = plain.select(cfg, "hydra.sweeper.params") or {}
        task = plain.select(cfg, "hydra.overrides.task") or []
        scenario = plain.select(cfg, "scenario.name", "original")
        grid = {"scenario": [scenario], "seed": [plain.select(cfg, "seed", 0)]}
        overrides = [f"{k}={v}" for k, v in params.items()] + list(task)
        for o in OverridesParser.create().parse_overrides(overrides):
            if o.key_or_group in grid and o.package is None and not o.is_delete():
                grid[o.key_or_group] = _values(o)
        return [(str(s), int(seed)) for s in grid["scenario"] for seed in grid["seed"]]
    except (
        OSError,
        ValueError,
        TypeError,
        AttributeError,  # a value of another shape than Hydra writes
        HydraException,
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
            where = _relative(path.parent, root)
            failures.append(_failure(_identity(path.parent), where, f"{where}: {err}"))
            continue
        if rec.get("kind") == "classify":
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
