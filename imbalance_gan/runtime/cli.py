"""The commands' common front: Hydra's own errors in one line, and the overrides checked
before any work.

Hydra reports a config it cannot compose (an unknown ``scenario=`` name, a misspelled key, an
override it cannot parse) in several lines with exit 1, and its hint for a misspelled key
(``+data.minority_cout=30``) turns the typo into a key nobody reads. :func:`run_command`
reports composition errors as one ``error:`` line with exit 2; :func:`check_overrides` refuses
``+key`` additions that are not config groups and values of the wrong type (``seed=abc``: the
default is a number), so every user error ends the same way before a run starts. Errors raised
inside a run keep Hydra's handling (a UserError there is already one line, see
:func:`imbalance_gan.runtime.errors.report_user_errors`)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf

from imbalance_gan.runtime.errors import EXIT_USER_ERROR, UserError, report_user_errors


def _inside_job(err: BaseException) -> bool:
    """Whether ``err`` was raised while Hydra ran the task (a frame of ``run_job``)."""
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "run_job":
            return True
        tb = tb.tb_next
    return False


def one_line(err: BaseException) -> str:
    """Hydra's message of ``err`` (and of the OmegaConf error behind it) as one line."""
    text = str(err)
    cause = err.__cause__
    if "Could not override" in text and "not in struct" in str(cause):
        key = getattr(cause, "full_key", None) or text.split("'")[1]
        return (
            f"unknown key {key}: no config has it (misspelled? `--cfg job` lists the keys); "
            "nothing was run"
        )
    lines = [ln.strip() for ln in text.split("Config search path")[0].splitlines() if ln.strip()]
    if lines and any(ln.startswith("Available options") for ln in lines):
        at = next(i for i, ln in enumerate(lines) if ln.startswith("Available options"))
        return f"{' '.join(lines[:at])}; available: {', '.join(lines[at + 1 :])}"
    if cause is not None and str(cause).strip():
        lines.append(str(cause).strip().splitlines()[0])
    return " ".join(lines) or type(err).__name__


def run_command(main: Callable[[], Any]) -> None:
    """Call a ``hydra.main`` entry point with Hydra's composition errors reported as one
    ``error:`` line and exit 2 (the full text with ``HYDRA_FULL_ERROR=1``)."""
    import hydra._internal.utils as hydra_utils

    original = hydra_utils.run_and_report

    def run_and_report(func: Callable[[], Any]) -> Any:
        try:
            return func()
        except Exception as err:
            if _inside_job(err) or os.environ.get("HYDRA_FULL_ERROR"):
                return original(functools.partial(_raise, err))
            print(f"error: {one_line(err)}", file=sys.stderr, flush=True)
            sys.exit(EXIT_USER_ERROR)

    hydra_utils.run_and_report = run_and_report
    try:
        main()
    finally:
        hydra_utils.run_and_report = original


def _raise(err: BaseException) -> None:
    raise err


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def type_problem(default: Any, value: Any) -> str | None:
    """Why ``value`` cannot replace ``default`` (a number, a flag, a list of numbers); None when
    it can. ``null`` and interpolations are left to the config's own checks."""
    if value is None or (isinstance(value, str) and value.startswith("${")):
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "must be true or false"
    if _number(default):
        return None if _number(value) else f"must be a number (default: {default})"
    if isinstance(default, list | ListConfig) and default and all(map(_number, default)):
        if not isinstance(value, list | ListConfig) or not all(map(_number, value)):
            return "must be a list of numbers"
    return None


def check_overrides(cfg: DictConfig) -> None:
    """Refuse, before any work, the command-line overrides Hydra accepts but the tool cannot use:
    a ``+key`` (or ``++key``) that is not a config group adds a key that no config reads; a
    value whose default is a number, a flag or a list of numbers must be one too."""
    from hydra import compose
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    task = OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)  # seed=${x} as typed
    parsed = OverridesParser.create().parse_overrides(task)
    choices = set(hydra_cfg.runtime.choices)

    def is_group(override: Any) -> bool:
        return override.key_or_group.split("@")[0] in choices

    for o in parsed:
        if (o.is_add() or o.is_force_add()) and not is_group(o):
            raise UserError(
                f"{o.input_line} adds a key that no config reads; the tool reads only the keys "
                "its configs declare (misspelled? `--cfg job` lists them)"
            )
    values = [o for o in parsed if not is_group(o) and not o.is_delete()]
    if not values:
        return
    reference = compose(
        config_name=hydra_cfg.job.config_name,
        overrides=[o.input_line for o in parsed if is_group(o)],
    )
    for o in values:
        try:
            default = OmegaConf.select(reference, o.key_or_group, default=None)
            value = OmegaConf.select(cfg, o.key_or_group, default=None)
        except Exception:  # an interpolation only the run can resolve: its own checks decide
            continue
        if isinstance(default, ListConfig):  # items as written: a folder's shape is ${...}
            default = OmegaConf.to_container(default, resolve=False)
        if isinstance(value, ListConfig):
            value = OmegaConf.to_container(value)
        problem = type_problem(default, value)
        if problem:
            raise UserError(f"{o.input_line}: {o.key_or_group} {problem}")


def check_data_config(cfg: DictConfig) -> None:
    """Resolve the ``data`` config before any work, so that a value it needs and lacks (an image
    folder's ``data.path``) or one a resolver refuses (a folder that is not there) ends the
    command in one line (:func:`~imbalance_gan.runtime.errors.report_user_errors`) instead of
    failing the first run that reads it."""
    if isinstance(cfg.get("data", None), DictConfig):
        OmegaConf.to_container(cfg.data, resolve=True)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A Hydra command's task function with its overrides checked (:func:`check_overrides`)
    before it runs, and its user errors in one line (``report_user_errors``)."""

    @functools.wraps(fn)
    def checked(cfg: DictConfig, *args: Any, **kwargs: Any) -> Any:
        check_overrides(cfg)
        check_data_config(cfg)
        return fn(cfg, *args, **kwargs)

    return report_user_errors(checked)


class OutputDirCheck(Callback):
    """Hydra callback: refuse an output dir that cannot be created or written, in one line,
    before Hydra itself tries to create it (which would end in a traceback)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(Path(config.hydra.run.dir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(Path(config.hydra.sweep.dir))

    @staticmethod
    def _check(path: Path) -> None:
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            print(
                f"error: output dir {path} cannot be created or written ({existing} is not a "
                "writable folder); choose another with hydra.run.dir=...",
                file=sys.stderr,
            )
            sys.exit(EXIT_USER_ERROR)
