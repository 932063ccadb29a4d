"""The config of a finished run someone else may have written, rebuilt from this package's own.

``generate run=<dir>`` (and the benchmarks that load a trained run) must build the run's
generator and, for scoring, its data. Building means importing and calling what a config
names, so a run dir's ``config.yaml`` is never built from: it is read as plain data
(:func:`imbalance_gan.record.plain.load_plain`, no resolver evaluated), the generator and data
configs it names are composed from this package's ``conf/`` (``gan=<gan.name>`` and the data
config whose classes the file names), and only the file's plain values for keys those configs
have, of the type they have, are taken over. Anything that would decide what gets built
(``_target_``, ``_partial_``, ``_args_``, ``_recursive_``, ``_convert_``, ``family``) must be
what this package's config says, and no interpolation is accepted anywhere: either is refused in
one line naming the key. Where the run writes (``paths``), how it trains (``trainer``), how
its selection scores (``selection``), where its images are (:data:`WHERE`: a file must not
choose a folder this machine reads or writes) and anything else outside :data:`TAKEN` stays
the requesting command's own, and nothing is downloaded for it.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from imbalance_gan.record.plain import interpolations, load_plain, select
from imbalance_gan.record.rundir import upgrade_config
from imbalance_gan.runtime.errors import UserError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
#: the keys that decide what a config builds: never taken from a file
BUILD_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_", "family")
#: the top-level keys whose plain values a run's file gives the rebuilt config
TAKEN = ("seed", "data", "gan")
#: where a run's images are: this machine's (the command's own data config), never the file's
WHERE = (
    "data.root",
    "data.path",
    "data.download",
    "data.source.root",
    "data.source.path",
    "data.source.download",
)
#: the largest whole number taken from a file (seeds and sizes beyond it are no run's)
MAX_INT = 2**31
_ABSENT = object()
#: a config line naming what it builds: ``_target_: <path>`` or ``family: <path>``
TARGET_LINE = re.compile(r"^\s*(_target_|family):\s*([A-Za-z_][\w.]*)\s*(#.*)?$")
#: an interpolation that copies another key, with no resolver
REFERENCE = re.compile(r"^\$\{[\w.\[\]]+\}$")


def _compose(overrides: list[str]) -> DictConfig:
    """``conf/generate.yaml`` with ``overrides``, inside a Hydra app or outside one."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return compose(config_name="generate", overrides=overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="generate", overrides=overrides)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "mapping", list: "list"}.get(type(value), type(value).__name__)


def _is_interpolation(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _refuse(where: Path, key: str, why: str) -> UserError:
    return UserError(f"{where}: {key} {why}: refused (a run's config is read as data only)")


def _scalar(own: Any, theirs: Any, key: str, where: Path) -> Any:
    """The file's value for a key whose own value is ``own`` (a plain value, not a mapping, a
    list or an interpolation)."""
    _inert(theirs, key, where)
    if own is None or theirs is None:
        return theirs
    if isinstance(theirs, dict | list):
        raise _refuse(where, key, f"is a {_kind(theirs)} there, a {_kind(own)} in this package")
    if isinstance(own, bool) or isinstance(own, str):
        ok = type(theirs) is type(own)
    elif isinstance(own, int):
        ok = isinstance(theirs, int) and not isinstance(theirs, bool)
    else:  # a float: a whole number there is the same number
        ok = isinstance(theirs, int | float) and not isinstance(theirs, bool)
        theirs = float(theirs) if ok else theirs
    if not ok:
        raise _refuse(
            where, key, f"is {theirs!r} ({_kind(theirs)}) there, a {_kind(own)} in this package"
        )
    return theirs


def _inert(theirs: Any, key: str, where: Path) -> None:
    """Refuse a value taken over whole (or ignored) that names something to build, or holds a
    whole number no run has."""
    if isinstance(theirs, int) and not isinstance(theirs, bool) and abs(theirs) > MAX_INT:
        raise _refuse(where, key, f"is {theirs}, beyond any run's ({MAX_INT})")
    if isinstance(theirs, dict):
        for k, v in theirs.items():
            if k in BUILD_KEYS:
                raise _refuse(where, f"{key}.{k}", f"is {v!r}, which this package's config lacks")
            _inert(v, f"{key}.{k}", where)
    elif isinstance(theirs, list):
        for i, v in enumerate(theirs):
            _inert(v, f"{key}[{i}]", where)


@functools.cache
def package_targets() -> frozenset[str]:
    """Every class or function a config of this package names to build (``_target_`` and a
    generator's ``family``, in any file under ``conf/``): torch's optimisers and schedulers too."""
    named = set()
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        for line in path.read_text().splitlines():
            match = TARGET_LINE.match(line)
            if match:
                named.add(match.group(2))
    return frozenset(named)


def _same_build_keys(own: Any, theirs: Any, key: str, where: Path) -> None:
    """Refuse a part of the file that is not taken over when it names something to build
    that this package's config there does not, unless some config of this package names it
    (a classify run's ``classifier.scheduler`` in a cache entry's config, say): it is never
    built from the file, only read."""
    if not isinstance(theirs, dict | list):
        return
    if isinstance(theirs, list):
        items = own if isinstance(own, list) and len(own) == len(theirs) else [None] * len(theirs)
        for i, (o, t) in enumerate(zip(items, theirs, strict=True)):
            _same_build_keys(o, t, f"{key}[{i}]", where)
        return
    own = own if isinstance(own, dict) else {}
    for k, v in theirs.items():
        mine = own.get(k, _ABSENT)
        named = k in ("_target_", "family") and isinstance(v, str) and v in package_targets()
        if k in BUILD_KEYS and v != mine and not named and not isinstance(v, bool):
            said = "lacks it" if mine is _ABSENT else f"says {mine!r}"
            raise _refuse(where, f"{key}.{k}", f"is {v!r} there; this package's config {said}")
        _same_build_keys(None if mine is _ABSENT else mine, v, f"{key}.{k}", where)


#: a key whose own value is an interpolation, and the file's value for it: (path, key, value)
Deferred = list[tuple[tuple, str, Any]]


def take_over(
    own: Any, theirs: Any, key: str, where: Path, deferred: Deferred, path: tuple = ()
) -> Any:
    """``own`` (this package's config, plain and unresolved) with the plain values of
    ``theirs`` (the file's) on the keys ``own`` has; refuses what :func:`_refuse` says. Where
    ``own`` is an interpolation it stays, and the file's value goes to ``deferred``, to be
    compared with what it resolves to (:func:`_settle`)."""
    if _is_interpolation(own) and not _is_interpolation(theirs):
        _inert(theirs, key, where)
        deferred.append((path, key, theirs))
        return own
    if isinstance(own, dict):
        if not isinstance(theirs, dict):
            raise _refuse(where, key, f"is a {_kind(theirs)} there, a mapping in this package")
        out = dict(own)
        for k, v in theirs.items():
            sub = f"{key}.{k}" if key else k
            mine = own.get(k, _ABSENT)
            if k in BUILD_KEYS:
                if v != mine:
                    said = "lacks it" if mine is _ABSENT else f"says {mine!r}"
                    raise _refuse(where, sub, f"is {v!r} there; this package's config {said}")
            elif mine is _ABSENT or sub in WHERE:
                _inert(v, sub, where)  # a key this package lacks, or a place: not taken over
            else:
                out[k] = take_over(mine, v, sub, where, deferred, (*path, k))
        return out
    if isinstance(own, list):
        if not isinstance(theirs, list):
            raise _refuse(where, key, f"is a {_kind(theirs)} there, a list in this package")
        if any(isinstance(o, dict | list) or _is_interpolation(o) for o in own):
            if len(theirs) != len(own):  # built or derived items: the same items
                raise _refuse(where, key, f"has {len(theirs)} items there, {len(own)} here")
            pairs = enumerate(zip(own, theirs, strict=True))
            return [
                take_over(o, t, f"{key}[{i}]", where, deferred, (*path, i)) for i, (o, t) in pairs
            ]
        concrete = [o for o in own if o is not None]
        same = concrete and all(type(o) is type(concrete[0]) for o in concrete)
        like = concrete[0] if same else None  # items of one kind keep it
        return [_scalar(like, t, f"{key}[{i}]", where) for i, t in enumerate(theirs)]
    return _scalar(own, theirs, key, where)


def _settle(cfg: DictConfig, deferred: Deferred, own: dict, where: Path) -> None:
    """Each deferred value against what its interpolation resolves to here. A plain reference
    (``${..dataset}``, ``${data.image_shape[0]}``) copies another key: the file's value must be
    that value (a planted ``data.source.dataset`` or ``img_channels`` is refused). A resolver
    (``${oc.select:smoke_sample_steps,10}``) is a setting: the file's value is taken when it is of
    the resolved value's type, or when it cannot be resolved without the run's data (an image
    folder's class count)."""
    for path, key, theirs in deferred:
        *parents, last = path
        node = cfg
        for part in parents:
            node = node[part]
        try:
            here = node[last]
            if isinstance(here, DictConfig | ListConfig):
                here = OmegaConf.to_container(here, resolve=True)
        except Exception:  # needs what only the run's data can say: the file's value stands
            node[last] = theirs
            continue
        if here == theirs:
            continue
        if (
            not REFERENCE.match(str(_at(own, path)))
            and _scalar(here, theirs, key, where) is not None
        ):
            node[last] = theirs  # a setting of the right type
            continue
        raise _refuse(where, key, f"is {theirs!r} there, but {here!r} from what it copies")


def _at(tree: Any, path: tuple) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _data_choice(theirs: dict, where: Path) -> tuple[str, dict]:
    """The data config of this package that the file's ``data`` is of (the same module and
    source classes; the one named like its ``dataset`` first), and that config, unresolved."""
    wanted = (theirs.get("_target_"), select(theirs, "source._target_"))
    dataset = str(theirs.get("dataset", ""))
    names = sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml"))
    modules = set()
    for name in sorted(names, key=lambda n: n != dataset):
        own = OmegaConf.to_container(_compose([f"data={name}"]).data, resolve=False)
        if (own.get("_target_"), select(own, "source._target_")) == wanted:
            return name, own
        modules.add(own.get("_target_"))
    key = "data.source._target_" if wanted[0] in modules else "data._target_"
    value = wanted[1] if wanted[0] in modules else wanted[0]
    raise _refuse(where, key, f"is {value!r}, which no data config of this package builds")


def rebuilt_config(path: Path, request: DictConfig) -> DictConfig:
    """The config to build a finished run's generator and data with: ``request`` (the command's
    own config) whose :data:`TAKEN` parts are this package's configs for the generator and data
    the file at ``path`` names, with the file's plain values (see the module docstring)."""
    theirs = upgrade_config(load_plain(path))
    if not isinstance(theirs, dict):
        raise UserError(f"{path} is not a mapping of config keys: refused")
    found = next(interpolations(theirs), None)
    if found:
        raise _refuse(
            path,
            found[0],
            f"holds an interpolation ({found[1][:60]!r}); a run saves its config resolved",
        )
    generator = select(theirs, "gan.name")
    generators = sorted(p.stem for p in (CONF_DIR / "gan").glob("*.yaml"))
    if generator not in generators:
        raise _refuse(
            path,
            "gan.name",
            f"is {generator!r}, not a generator of this package ({', '.join(generators)})",
        )
    if not isinstance(theirs.get("data"), dict):
        raise _refuse(path, "data", "is missing or not a mapping")
    data, own_data = _data_choice(theirs["data"], path)
    own = OmegaConf.to_container(_compose([f"gan={generator}", f"data={data}"]), resolve=False)
    own["data"] = own_data
    if "download" in own_data:
        own_data["download"] = False
    rebuilt = OmegaConf.to_container(request, resolve=False)
    for key, value in theirs.items():
        if key not in TAKEN:
            _same_build_keys(own.get(key), value, key, path)  # checked, never used
    deferred: Deferred = []
    for key in TAKEN:
        value = own.get(key, _ABSENT)
        if value is _ABSENT:
            continue
        if key in theirs:
            value = take_over(value, theirs[key], key, path, deferred, (key,))
        rebuilt[key] = value
    _keep_request_places(rebuilt, OmegaConf.to_container(request, resolve=False))
    cfg = OmegaConf.create(rebuilt)
    _settle(cfg, deferred, rebuilt, path)
    OmegaConf.set_struct(cfg, True)
    return cfg


def _keep_request_places(rebuilt: dict, request: dict) -> None:
    """Where the images are, as the command's own config says it (``data.root=...`` given to
    ``generate``) when it is a config of the same source; the data config's default else."""
    if select(request, "data.source._target_") != select(rebuilt, "data.source._target_"):
        return
    for key in WHERE:
        *parents, last = key.split(".")
        mine, ours = select(request, ".".join(parents)), select(rebuilt, ".".join(parents))
        if isinstance(mine, dict) and isinstance(ours, dict) and last in mine and last in ours:
            if mine[last] != "???" and last != "download":
                ours[last] = mine[last]
