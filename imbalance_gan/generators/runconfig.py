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

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from imbalance_gan.record.plain import interpolations, load_plain, select
from imbalance_gan.runtime.errors import UserError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
#: the keys that decide what a config builds: never taken from a file
BUILD_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_", "family")
#: the top-level keys whose plain values a run's file gives the rebuilt config
TAKEN = ("seed", "data", "gan")
#: where a run's images are: this machine's (the command's own data config), never the file's
WHERE = ("data.root", "data.path", "data.source.root", "data.source.path", "data.download")
#: the largest whole number taken from a file (seeds and sizes beyond it are no run's)
MAX_INT = 2**31
_ABSENT = object()


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
    """The file's value for a key whose own value is ``own`` (not a mapping or list)."""
    _inert(theirs, key, where)
    if own is None or _is_interpolation(own) or theirs is None:
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


def _same_build_keys(own: Any, theirs: Any, key: str, where: Path) -> None:
    """Refuse a part of the file that is not taken over when it names something to build other
    than what this package's config there names."""
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
        if k in BUILD_KEYS and v != mine:
            said = "lacks it" if mine is _ABSENT else f"says {mine!r}"
            raise _refuse(where, f"{key}.{k}", f"is {v!r} there; this package's config {said}")
        _same_build_keys(None if mine is _ABSENT else mine, v, f"{key}.{k}", where)


def take_over(own: Any, theirs: Any, key: str, where: Path) -> Any:
    """``own`` (this package's config, plain and unresolved) with the plain values of
    ``theirs`` (the file's) on the keys ``own`` has; refuses what :func:`_refuse` says."""
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
                out[k] = take_over(mine, v, sub, where)
        return out
    if isinstance(own, list) and not _is_interpolation(theirs):
        if not isinstance(theirs, list):
            raise _refuse(where, key, f"is a {_kind(theirs)} there, a list in this package")
        if any(isinstance(o, dict | list) for o in own):  # built items: the same items
            if len(theirs) != len(own):
                raise _refuse(where, key, f"has {len(theirs)} items there, {len(own)} here")
            return [
                take_over(o, t, f"{key}[{i}]", where)
                for i, (o, t) in enumerate(zip(own, theirs, strict=True))
            ]
        concrete = [o for o in own if o is not None and not _is_interpolation(o)]
        same = concrete and all(type(o) is type(concrete[0]) for o in concrete)
        like = concrete[0] if same else None  # items of one kind keep it
        return [_scalar(like, t, f"{key}[{i}]", where) for i, t in enumerate(theirs)]
    return _scalar(own, theirs, key, where)


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
    theirs = load_plain(path)
    if not isinstance(theirs, dict):
        raise UserError(f"{path} is not a mapping of config keys: refused")
    found = next(interpolations(theirs), None)
    if found:
        raise _refuse(
            path,
            found[0],
            f"holds an interpolation ({found[1][:60]!r}); a run saves its config resolved",
        )
    gan = select(theirs, "gan.name")
    gans = sorted(p.stem for p in (CONF_DIR / "gan").glob("*.yaml"))
    if gan not in gans:
        raise _refuse(
            path, "gan.name", f"is {gan!r}, not a generator of this package ({', '.join(gans)})"
        )
    if not isinstance(theirs.get("data"), dict):
        raise _refuse(path, "data", "is missing or not a mapping")
    data, own_data = _data_choice(theirs["data"], path)
    own = OmegaConf.to_container(_compose([f"gan={gan}", f"data={data}"]), resolve=False)
    own["data"] = own_data
    if "download" in own_data:
        own_data["download"] = False
    rebuilt = OmegaConf.to_container(request, resolve=False)
    for key, value in theirs.items():
        if key not in TAKEN:
            _same_build_keys(own.get(key), value, key, path)  # checked, never used
    for key in TAKEN:
        value = own.get(key, _ABSENT)
        if value is _ABSENT:
            continue
        rebuilt[key] = take_over(value, theirs[key], key, path) if key in theirs else value
    cfg = OmegaConf.create(rebuilt)
    OmegaConf.set_struct(cfg, True)
    return cfg
