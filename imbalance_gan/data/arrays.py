"""Image sources for arrays a user brings: an ``.npz`` pair (``train.npz`` and ``test.npz``,
each with ``images`` and ``labels``), checked from the files' headers before anything is read
into memory (``conf/data/arrays.yaml``)."""

from __future__ import annotations

import logging
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from imbalance_gan.data.sources import as_labels, as_uint8_nchw, file_digest
from imbalance_gan.runtime.errors import UserError

log = logging.getLogger(__name__)
#: the bytes one image value takes once loaded: the uint8 images, then the float32 tensors in use
BYTES_PER_VALUE = 1 + 4

#: arrays an .npz pair must hold
ARRAYS = ("images", "labels")


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{name: (shape, dtype)}`` of ``images`` and ``labels`` in an .npz, from their .npy
    headers inside the zip: nothing is inflated beyond the headers (a few MB of zeros can hold
    a 2.6 GB array). A missing array, an object array or a header numpy does not read is refused."""
    from numpy.lib import format as npy

    try:
        with zipfile.ZipFile(path) as z:
            names = {n[: -len(".npy")] for n in z.namelist() if n.endswith(".npy")}
            missing = [k for k in ARRAYS if k not in names]
            if missing:
                raise UserError(
                    f"{path} has no {' and no '.join(missing)} array (it holds "
                    f"{', '.join(sorted(names)) or 'nothing'})"
                )
            return {k: _npy_header(z, k, npy) for k in ARRAYS}
    except UserError:
        raise
    except Exception as err:  # not a zip, a bad header
        raise UserError(f"{path} cannot be read as an .npz of arrays: {err}") from None


def _npy_header(z: zipfile.ZipFile, name: str, npy) -> tuple[tuple[int, ...], np.dtype]:
    with z.open(f"{name}.npy") as f:
        version = npy.read_magic(f)
        readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
        if version not in readers:
            raise ValueError(f"{name}.npy is .npy version {version}; 1.0 and 2.0 are read")
        shape, _, dtype = readers[version](f)
    if dtype.hasobject:
        raise ValueError(f"{name}.npy holds Python objects, which are never unpickled")
    return tuple(int(d) for d in shape), dtype


class ArraySource:
    """Your own images as arrays: ``<path>/train.npz`` and ``<path>/test.npz``, each with
    ``images`` (``N x H x W``, ``N x H x W x C`` or ``N x C x H x W``; uint8, or float in
    [0, 1]) and ``labels`` (``N`` integers, 0 .. classes − 1). Read without unpickling, and
    only after the arrays' headers show that both files fit ``memory_limit_gb``."""

    def __init__(
        self,
        path: str | os.PathLike,
        dataset: str = "arrays",
        memory_limit_gb: float = 8.0,
        num_classes: int | None = None,
    ) -> None:
        self.path = Path(os.fspath(path)).expanduser()
        self.dataset = str(dataset)
        self.root = os.fspath(self.path)
        self.memory_limit_gb = float(memory_limit_gb)
        self.num_classes = None if num_classes is None else int(num_classes)
        self._checked = False
        for split in ("train", "test"):
            if not self._file(split).is_file():
                raise UserError(
                    f"data.root={self.path}: no {split}.npz there (the folder holds train.npz "
                    "and test.npz, each with `images` and `labels`)"
                )

    def _file(self, split: str) -> Path:
        return self.path / f"{split}.npz"

    def identity(self) -> dict:
        """The dataset's name and the content of its two files (not where they are)."""
        return {
            "dataset": self.dataset,
            "files": {s: file_digest(self._file(s)) for s in ("train", "test")},
        }

    def memory_bytes(self) -> int:
        """What loading both files takes at most, from their headers: each array as stored and
        a working copy while it is converted, then the uint8 images and float32 tensors in use
        (and int64 labels)."""
        need = 0
        for split in ("train", "test"):
            for name, (shape, dtype) in npz_headers(self._file(split)).items():
                values = math.prod(shape)
                need += values * (2 * dtype.itemsize + (BYTES_PER_VALUE if name == "images" else 8))
        return need

    def _check_memory(self) -> None:
        need = self.memory_bytes()
        log.info("data: the arrays in %s take up to %.1f MiB in memory", self.path, need / 2**20)
        if need > self.memory_limit_gb * 2**30:
            raise UserError(
                f"{self.path}: train.npz and test.npz declare arrays that need "
                f"{need / 2**30:.1f} GiB in memory, more than data.source.memory_limit_gb="
                f"{self.memory_limit_gb:g}; nothing was loaded (raise the limit if the machine "
                "has the memory)"
            )
        self._checked = True

    def load(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One split: uint8 images ``[N, C, H, W]`` and int64 labels ``[N]``."""
        if not self._checked:
            self._check_memory()
        path = self._file("train" if train else "test")
        try:
            with np.load(path, allow_pickle=False) as f:
                images, labels = f["images"], f["labels"]
        except Exception as err:  # changed since its header was read, truncated
            raise UserError(f"{path} cannot be read as an .npz of arrays: {err}") from None
        x = as_uint8_nchw(images, str(path))
        return x, as_labels(labels, len(x), str(path), self.num_classes)
