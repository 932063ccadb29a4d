"""Atomic file writes: a reader never sees a half-written artifact."""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from imbalance_gan.runtime.errors import UserError


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    data = (json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n").encode()
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def torch_save(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` atomically."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def savez(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` atomically (the name is kept exactly, no ``.npz`` appended)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write(path, lambda f: f.write(buf.getvalue()))


def read_json(path: str | os.PathLike, max_bytes: int | None = None) -> Any:
    """Read a JSON file: a regular file (a link to one is followed) of at most ``max_bytes``
    bytes when given; ValueError (saying why, not naming the file) when it is not one, or
    nests too deeply to parse."""
    data = read_regular(path, max_bytes)
    try:
        return json.loads(data)
    except RecursionError:  # the parser recurses once per level: [[[[...]]]]
        raise ValueError("nested too deeply to read") from None


def read_regular(
    path: str | os.PathLike, max_bytes: int | None = None, *, follow_symlinks: bool = True
) -> bytes:
    """The bytes of the regular file ``path``, of at most ``max_bytes`` when given; ValueError
    for a FIFO, a device or a folder (even behind a link, which would block or never end), a
    link when not ``follow_symlinks``, or a larger file (checked before reading, and again by
    reading no more than one byte past the limit, since a file may grow)."""
    if not follow_symlinks and os.path.islink(path):
        raise ValueError("a symbolic link")
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError("not a regular file")
    # O_NONBLOCK: a FIFO swapped in after the check must not hang the open; O_NOFOLLOW: nor
    # may a link swapped in be followed
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)
    with os.fdopen(os.open(path, flags), "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise ValueError(f"{info.st_size:,} bytes, more than the {max_bytes:,} read")
        data = f.read() if max_bytes is None else f.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ValueError(f"more than the {max_bytes:,} bytes read")
    return data


#: the first bytes of every PNG file
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: a generator's 10 x 10 sample grid is tens of kB for 28-32 px images, and under 5 MB even raw for
#: 128 px photos; 16 MiB leaves room, yet what a stranger's folder gets copied into a report
#: (and embedded in its HTML) stays bounded
PNG_MAX_BYTES = 16 * 2**20


def read_png(path: str | os.PathLike, max_bytes: int = PNG_MAX_BYTES) -> bytes:
    """The bytes of a PNG file to copy as is; ValueError when ``path`` is a link (a run folder's
    link could point at any file of the machine), not a regular file, larger than ``max_bytes``
    or not a PNG."""
    data = read_regular(path, max_bytes, follow_symlinks=False)
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    return data


def _json_default(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, np.generic | np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def writable_dir(path: str | Path, what: str) -> Path:
    """``path`` created and checked writable (``what`` names it in the error), before any work."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write_test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UserError(f"{what} {out} is not writable: {err.strerror}") from None
    return out
