"""A config file the tool did not write in this process, read as plain data and nothing else.

A run dir's ``config.yaml``, a sweep's ``multirun.yaml``: the tool reads them from folders a
user may have been handed, so reading one must never run code, evaluate a resolver or build an
object. :func:`load_plain` parses YAML into mappings (string keys), lists, strings, numbers,
booleans and null only: no Python tags, no timestamps, no sets or binaries, no anchors or
aliases (which let a few bytes expand into a tree too large to walk), and no interpolation is
ever resolved (``${...}`` stays a string; :func:`interpolations` finds them for a caller that
must refuse them). Turning such data back into something that is built is the caller's job,
from the package's own config (``generators.generate.rebuilt_config``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from omegaconf._utils import get_yaml_loader

from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.files import read_regular

#: a config file larger than this is not a run's config (a resolved config is a few kB, a
#: sweep's multirun.yaml some tens)
MAX_BYTES = 2**20
#: nesting deeper than this is not a config (the package's own nest 5 deep)
MAX_DEPTH = 32
#: a list longer than this is not a config value (the longest are per-class counts)
MAX_ITEMS = 10_000
#: what plain data is made of
SCALARS = (str, int, float, bool, type(None))
#: the only YAML tags a plain config may carry (written or implied)
PLAIN_TAGS = {
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")
}


class _PlainLoader(get_yaml_loader()):  # OmegaConf's scalars: 1e-4 is a float, no timestamps
    """A YAML loader that builds plain data only (see the module docstring)."""

    def compose_node(self, parent, index):  # noqa: ANN001, ANN201 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                problem=f"an alias (*{event.anchor}); none allowed", problem_mark=event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_object(self, node, deep=False):  # noqa: ANN001, ANN201
        if node.tag not in PLAIN_TAGS:
            raise yaml.MarkedYAMLError(
                problem=f"the tag {node.tag}; only plain data allowed", problem_mark=node.start_mark
            )
        return super().construct_object(node, deep=deep)


def parse_plain(text: str, where: str = "<text>") -> Any:
    """``text`` as plain data (see the module docstring); a UserError naming ``where`` if it is
    anything else."""
    too_deep = UserError(f"{where} nests deeper than {MAX_DEPTH} levels: not a config, refused")
    try:
        data = yaml.load(text, Loader=_PlainLoader)  # noqa: S506 - the loader is plain-only
    except yaml.YAMLError as err:
        raise UserError(f"{where} is not a plain config ({_reason(err)}): refused") from None
    except RecursionError:  # nesting deeper than Python's stack
        raise too_deep from None
    except (ValueError, OverflowError) as err:  # an integer of thousands of digits
        raise UserError(f"{where} holds a value YAML cannot read ({err}): refused") from None
    depth, longest = _extent(data)
    if depth > MAX_DEPTH:
        raise too_deep
    if longest > MAX_ITEMS:
        raise UserError(f"{where} holds a list of more than {MAX_ITEMS} items: refused")
    bad = next(_not_plain(data), None)
    if bad is not None:
        raise UserError(f"{where} holds {bad}, which is not plain config data: refused")
    return data


def load_plain(path: str | Path, max_bytes: int = MAX_BYTES) -> Any:
    """The YAML file at ``path`` as plain data; a UserError if it cannot be read, is larger
    than ``max_bytes`` or holds anything but plain data."""
    path = Path(path)
    try:
        blob = read_regular(path, max_bytes)  # a FIFO or a device would block or never end
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise UserError(f"cannot read {path} as a run's config ({reason})") from None
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text: not a config") from None
    return parse_plain(text, str(path))


def _reason(err: yaml.YAMLError) -> str:
    """What YAML found wrong and where, without quoting the file (which may be a link to a file
    that is no config: its lines stay out of the message)."""
    problem = getattr(err, "problem", None) or getattr(err, "context", None)
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if problem is None:
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    return f"{problem}, line {mark.line + 1} column {mark.column + 1}" if mark else problem


def _extent(value: Any) -> tuple[int, int]:
    """How deep containers nest in ``value`` and the length of its longest list, counted in one
    walk without recursion (which a deep tree would exhaust); below :data:`MAX_DEPTH` levels
    the walk stops, the depth being known to be too deep already."""
    deepest, longest, todo = 0, 0, [(value, 0)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(node, list):
            longest = max(longest, len(node))
        if depth <= MAX_DEPTH and isinstance(node, dict | list):
            items = node.values() if isinstance(node, dict) else node
            todo.extend((v, depth + 1) for v in items)
    return deepest, longest


def _not_plain(value: Any, key: str = "") -> Iterator[str]:
    """A description of each value under ``value`` that is not plain data."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                yield f"a key {k!r} of type {type(k).__name__} at {key or 'the top'}"
            else:
                yield from _not_plain(v, f"{key}.{k}" if key else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _not_plain(v, f"{key}[{i}]")
    elif not isinstance(value, SCALARS):
        yield f"a {type(value).__name__} at {key}"


def interpolations(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, text) of every string under ``value`` that OmegaConf would read as an
    interpolation (``${...}``), keys included."""
    if isinstance(value, dict):
        for k, v in value.items():
            path = f"{key}.{k}" if key else str(k)
            if "${" in str(k):
                yield path, str(k)
            yield from interpolations(v, path)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from interpolations(v, f"{key}[{i}]")
    elif isinstance(value, str) and "${" in value:
        yield key, value


def select(data: Any, key: str, default: Any = None) -> Any:
    """``data``'s value at the dotted ``key`` (mappings only), or ``default``."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return default
        data = data[part]
    return data
