"""User-facing errors: one clear line and a non-zero exit, no traceback."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from typing import Any

#: Exit status of a run stopped by a user error (bad config, missing or corrupt file).
EXIT_USER_ERROR = 2
#: Exit status of a run stopped by SIGTERM/SIGINT after saving a resumable checkpoint.
EXIT_PREEMPTED = 75
#: Exit status of a run stopped because a loss became non-finite.
EXIT_DIVERGED = 3


class UserError(Exception):
    """A problem the user can fix (a config value, a file); reported as one line."""


class DivergenceError(Exception):
    """A training loss became non-finite."""


class Preempted(BaseException):  # noqa: N818 - not an error: a requested stop
    """Raised after a resumable checkpoint was saved because a stop signal arrived.

    A BaseException, so that code catching ``Exception`` (a study's per-run guard) lets it pass.
    """


def _user_error(err: BaseException) -> UserError | None:
    """``err`` if it is a UserError, or the UserError that hydra's instantiate or a config
    resolver wrapped (a net refusing ``data.image_shape``, an image folder that is not there),
    or one naming a required config value left unset (``???``); else None."""
    from hydra.errors import InstantiationException
    from omegaconf.errors import (
        InterpolationKeyError,
        InterpolationResolutionError,
        MissingMandatoryValue,
    )

    while isinstance(err, (InstantiationException, InterpolationResolutionError)):
        inner = err.__cause__ or err.__context__  # a resolver's error is the context
        if inner is None or isinstance(err, InterpolationKeyError):  # the key is the news
            break
        err = inner
    if isinstance(err, InterpolationKeyError):  # seed=${nope}
        text = str(err)
        key = re.search(r"full_key: (\S+)", text)
        where = f"{key.group(1)}: " if key else ""
        return UserError(f"{where}{text.splitlines()[0]}; nothing was run")
    if isinstance(err, MissingMandatoryValue):
        # the key the user must set, at the end of a chain of interpolations
        keys = re.findall(r"Missing mandatory value: ([\w.\[\]]+)", str(err))
        key = keys[-1] if keys else getattr(err, "full_key", None) or "a required value"
        return UserError(f"{key} is required and not set: add {key}=<value>; nothing was run")
    return err if isinstance(err, UserError) else None


def raise_user_error(err: BaseException) -> None:
    """Raise, as itself, the UserError that hydra's instantiate wrapped in ``err`` (at any
    depth), so a library caller gets the one line; return when there is none."""
    user_error = _user_error(err)
    if user_error is not None and user_error is not err:
        raise user_error from None


def report_user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn UserError into one line on stderr and exit 2 (traceback with IMBALANCE_GAN_DEBUG=1)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DivergenceError as err:
            print(f"error: training diverged: {err}", file=sys.stderr, flush=True)
            sys.exit(EXIT_DIVERGED)
        except Exception as err:  # a UserError, also one raised inside hydra's instantiate
            user_error = _user_error(err)
            if user_error is None:
                raise
            if os.environ.get("IMBALANCE_GAN_DEBUG") or os.environ.get("HYDRA_FULL_ERROR"):
                raise
            print(f"error: {user_error}", file=sys.stderr, flush=True)
            sys.exit(EXIT_USER_ERROR)
        except Preempted as err:
            print(f"stopped: {err}", file=sys.stderr, flush=True)
            sys.exit(EXIT_PREEMPTED)

    return wrapper
