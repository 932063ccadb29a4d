"""What may happen to a run dir that already holds a run: a finished run is never overwritten,
and ``resume=true`` continues (or keeps) only the same run.

:func:`check_run_dir` runs before a command writes anything into its output dir. Without
``resume`` a finished dir is refused; with ``resume=true`` the dir's ``config.yaml`` must agree
with the requested config in everything that changes results, or the command is refused with
the first difference. Which keys cannot change results is :data:`NEUTRAL`'s to say. Where
the images are (``data.path``, ``data.root``) is neutral, so that a study moved to another
machine resumes; which images they are is not: a run writes its data's identity
(:data:`DATA_FILE`, the DataModule's ``identity()``, which names a folder's or an array file's
content) before anything else, and ``resume=true`` with other data is refused."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from imbalance_gan.record.plain import load_plain
from imbalance_gan.runtime.costs import epochs_with_floor
from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import write_json

#: keys (and everything below them) that say where a run writes, how it shows progress, how
#: often it checkpoints, what a cluster grants it, or which study planned it: none changes what
#: the run computes
NEUTRAL = (
    "paths",
    "data.root",
    "data.source.root",
    "data.path",
    "data.source.path",
    "data.source.memory_limit_gb",  # limits refuse a file; they never change what is read
    "data.source.max_pixels",
    "data.source.num_classes",  # a copy of data.num_classes, which is compared
    # what labels a generator or a run (the quality floor's "cannot judge", the shortcut
    # warning), never what is computed; a resumed run keeps its record's labels
    "selection.feature_recall_floor",
    "selection.min_held_out",
    "probe.warn_above",
    "resume",
    "study",
    "deviations",
    "trainer.enable_progress_bar",
    "trainer.checkpoint_every_s",
    "trainer.checkpoint_every_n_steps",
    "trainer.resources",
)
#: the generator's keys, which change nothing for a scenario that uses no generator
GENERATOR_KEYS = ("gan", "selection")
#: the run's own copy of its resolved config
CONFIG_FILE = "config.yaml"
#: classes a config names by ``_target_`` that have been renamed since: old name -> new name
RENAMED_TARGETS = {
    "imbalance_gan.data.ImbalancedDataModule": "imbalance_gan.data.ImbalancedData",
    "imbalance_gan.data.sources.ArraySource": "imbalance_gan.data.arrays.ArraySource",
}
#: the identity of the run's data (which images, not where), written when the run starts
DATA_FILE = "data.json"


def upgrade_config(recorded: Any) -> Any:
    """A recorded config in today's shape: the classes it names by their new names (done once,
    where a config written by an older version is read)."""
    if isinstance(recorded, dict):
        return {
            k: RENAMED_TARGETS.get(v, v) if k == "_target_" else upgrade_config(v)
            for k, v in recorded.items()
        }
    if isinstance(recorded, list):
        return [upgrade_config(v) for v in recorded]
    return recorded


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(_flat(sub, f"{prefix}{key}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): value}


def _uses_generator(cfg: dict) -> bool:
    return bool((cfg.get("scenario") or {}).get("use_generator", cfg.get("task") == "train"))


def _result_keys(cfg: dict) -> dict[str, Any]:
    ignored = NEUTRAL + (() if _uses_generator(cfg) else GENERATOR_KEYS)
    return {
        k: v
        for k, v in _flat(cfg).items()
        if not any(k == n or k.startswith(n + ".") for n in ignored)
    }


def first_difference(recorded: dict, requested: dict, same: tuple[str, ...] = ()) -> str | None:
    """The first key (in the requested config's order) whose value would change results, as
    ``key: <there> there, <here> now``; None when the two configs compute the same run.
    ``same``: keys known to change nothing for this run."""
    old, new = _result_keys(recorded), _result_keys(requested)
    old = {k: v for k, v in old.items() if k not in same}
    new = {k: v for k, v in new.items() if k not in same}
    # a key set to null is the same as a key an older config lacks (a slot added since, unused)
    old = {k: v for k, v in old.items() if v is not None}
    new = {k: v for k, v in new.items() if v is not None}
    return _first_change(old, new)


def first_data_difference(recorded: dict, requested: dict) -> str | None:
    """The first key of two data identities that differs, as ``data key: <there> there,
    <here> now``; None when they name the same images."""
    change = _first_change(_flat(recorded), _flat(requested))
    return None if change is None else f"data {change}"


def _first_change(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first key (``new``'s order, then ``old``'s) whose values differ, as ``key is <old>
    there, <new> now``; a key one side lacks is ``<unset>`` there."""
    for key in [*new, *(k for k in old if k not in new)]:
        if old.get(key, "<unset>") != new.get(key, "<unset>"):
            return f"{key} is {old.get(key, '<unset>')!r} there, {new.get(key, '<unset>')!r} now"
    return None


def _read_record(path: Path) -> dict[str, Any]:
    """A JSON record of the run dir (bounded, plain: :func:`imbalance_gan.record.read`); a
    UserError when it cannot be read."""
    from imbalance_gan import record

    try:
        return record.read(path)
    except record.RecordError as err:
        raise UserError(f"cannot read {path} ({err}); nothing was changed") from None


def check_same_data(out: Path, data: dict) -> None:
    """Refuse to resume ``out`` when the data it ran on (its :data:`DATA_FILE`) is not
    ``data``; a run from before the file existed is judged by its config alone."""
    path = Path(out) / DATA_FILE
    if not path.exists():
        return
    difference = first_data_difference(_read_record(path), data)
    if difference:
        raise UserError(
            f"{out} holds a run on other images ({difference}), which resume=true would "
            "continue; nothing was changed. Resume it with its own data, or choose a fresh "
            "hydra.run.dir"
        )


def check_run_dir(
    out: Path, cfg: DictConfig, finished: bool, resume: bool, data: dict | None = None
) -> bool:
    """Refuse (UserError) to run ``cfg`` into ``out`` when that would overwrite a finished run
    (``finished``, without ``resume``) or continue another run (with ``resume``: another
    config, or, with ``data``, the identity of the requested data, other images); True when
    ``out`` holds this very run, finished, to be kept. Reads only; writes nothing."""
    if finished and not resume:
        raise UserError(
            f"{out} already holds a finished run; nothing was changed. Add resume=true to keep "
            "it, or choose a fresh hydra.run.dir for a new one"
        )
    path = Path(out) / CONFIG_FILE
    holds_run = finished or (Path(out) / "checkpoints").is_dir()
    if resume and holds_run and not path.is_file():
        raise UserError(
            f"resume=true into {out}, which holds a run but no {CONFIG_FILE} to check that it is "
            "this run; nothing was changed. Choose a fresh hydra.run.dir"
        )
    if resume and path.is_file():
        recorded = upgrade_config(load_plain(path))  # data only: nothing resolved or built
        if not isinstance(recorded, dict):
            raise UserError(f"{path} is not a mapping of config keys; nothing was changed")
        requested = OmegaConf.to_container(cfg, resolve=True)
        same = ("classifier.min_steps",) if _same_epochs(out, requested) and finished else ()
        difference = first_difference(recorded or {}, requested, same)
        if difference:
            raise UserError(
                f"{out} holds another run ({difference}), which resume=true would continue; "
                "nothing was changed. Continue it with its own settings, or choose a fresh "
                "hydra.run.dir"
            )
    if resume and data is not None:
        check_same_data(out, data)
    return finished and resume


def _same_epochs(out: Path, requested: dict) -> bool:
    """Whether the finished classify run in ``out`` trained the epochs ``requested`` would
    train on its images (``classifier.min_steps``, added since some runs were made, then
    changes nothing for it)."""
    from imbalance_gan import record

    try:
        run = _read_record(Path(out) / record.RECORD_FILE)
        c = requested["classifier"]
        n = sum(run["train_counts"]["total"])
        want = epochs_with_floor(c["max_epochs"], c.get("min_steps"), c["batch_size"], n)
        return run.get("kind") == "classify" and int(run["epochs"]) == want
    except (UserError, KeyError, TypeError, ValueError):
        return False


#: what a finished record must hold to be kept, by kind: what the commands return from it
KEPT_FIELDS = {"classify": ("metrics", "val_metrics"), "gan": ("selection/fd_train",)}


def _kept(path: Path) -> dict[str, Any]:
    """The finished run's record that ``resume=true`` keeps; refused when it cannot be read or
    lacks what the command returns from it (a record of another kind, or cut short)."""
    run = _read_record(path)
    missing = [k for k in KEPT_FIELDS.get(run.get("kind"), ("kind",)) if k not in run]
    if missing:
        raise UserError(
            f"{path} is no complete run record (no {', '.join(missing)}); nothing was changed. "
            "Choose a fresh hydra.run.dir"
        )
    return run


#: what an unfinished run leaves that a fresh start (no resume) must not mix with its own:
#: checkpoints to resume from and TensorBoard events
LEFTOVERS = ("checkpoints", "tb")


def start_run(out: Path, cfg: DictConfig, data: dict | None = None) -> dict[str, Any] | None:
    """Before a command writes into ``out``: the record of the finished run there when
    ``resume=true`` keeps it (the same config and ``data``, the data's identity); else None,
    after checking (see :func:`check_run_dir`), without ``resume`` removing an unfinished run's
    leftovers so the new run's checkpoints and TensorBoard events are its own, and writing
    ``data`` as the run's :data:`DATA_FILE`."""
    from imbalance_gan import record

    resume = bool(cfg.get("resume", False))
    if check_run_dir(out, cfg, record.is_finished(out), resume, data):
        return _kept(Path(out) / record.RECORD_FILE)
    if not resume:
        for name in LEFTOVERS:
            shutil.rmtree(Path(out) / name, ignore_errors=True)
    if data is not None:
        write_json(Path(out) / DATA_FILE, data)
    return None
