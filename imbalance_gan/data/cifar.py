"""CIFAR-10 and CIFAR-100 from their standard python files (``cifar-10-batches-py/`` or
``cifar-100-python/`` under ``data.root``), read without running code: the files are pickles,
so they pass through an unpickler that builds only dicts, lists, strings, numbers and numpy
arrays of plain numbers, and refuses anything else by name. Files torchvision lists are checked
against its MD5 sums (``verify``); torchvision downloads them only when they are missing and
``data.download=true``.

The long-tailed presets (``data=cifar10_lt``, ``data=cifar100_lt``) keep
``n_i = n_max · ratio^(−i / (C − 1))`` images of class ``i`` (Cao et al. 2019, LDAM-DRW), which
:func:`long_tail_counts` computes and the data module's seeded selection draws."""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from imbalance_gan.data.sources import as_labels, file_digest
from imbalance_gan.runtime.errors import UserError

#: dataset name -> (torchvision class, label key in the batch dicts, number of classes)
CIFAR = {
    "cifar10": (datasets.CIFAR10, "labels", 10),
    "cifar100": (datasets.CIFAR100, "fine_labels", 100),
}
#: the bytes one image value takes once loaded: the uint8 images, then the float32 tensors in use
BYTES_PER_VALUE = 1 + 4

#: what a CIFAR pickle may build: numpy's array reconstruction and plain dtypes, nothing else
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArrayType:
    """What ``numpy.ndarray`` unpickles to: the type numpy's own pickles hand to
    ``_reconstruct``; called directly (which they never do) it would allocate any shape."""

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError("it builds an array directly, which a CIFAR file never does")


#: the arrays a CIFAR file holds (its `data`; labels are lists): numpy fills each array from
#: bytes the pickle may share between many (a byte-swapped dtype copies them for each), so a
#: small file could build GBs of arrays; a few arrays bound that to a few times the file
MAX_ARRAYS = 4


class _PlainUnpickler(pickle.Unpickler):
    """Builds only plain data and at most :data:`MAX_ARRAYS` numpy arrays, each at most
    ``max_bytes`` as declared."""

    def __init__(self, file, max_bytes: int, **kwargs) -> None:
        super().__init__(file, **kwargs)
        self.max_bytes = max_bytes
        self.arrays = 0

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"it holds {module}.{name}, which a CIFAR batch file never does (unpickling it "
                "could run code)"
            )
        if name == "ndarray":
            return _ARRAY
        if name == "_reconstruct":
            return functools.partial(self._reconstruct, super().find_class(module, name))
        return super().find_class(module, name)

    def _reconstruct(self, numpy_reconstruct, subtype, shape, dtype):
        """numpy's ``_reconstruct``, which allocates ``shape`` at once: refused above
        ``max_bytes`` (numpy's own pickles declare an empty array and fill it from its bytes)."""
        if subtype is not _ARRAY or not isinstance(shape, tuple):
            raise pickle.UnpicklingError("it rebuilds an array in a way numpy never pickles")
        self.arrays += 1
        if self.arrays > MAX_ARRAYS:
            raise pickle.UnpicklingError(f"it holds more than {MAX_ARRAYS} arrays")
        itemsize = np.dtype(dtype.decode("latin1") if isinstance(dtype, bytes) else dtype).itemsize
        declared = math.prod(int(d) for d in shape) * itemsize
        if min(shape, default=0) < 0 or declared > self.max_bytes:
            raise pickle.UnpicklingError(
                f"it declares an array of shape {list(shape)} ({declared:,} bytes), more than "
                f"data.source.memory_limit_gb allows"
            )
        return numpy_reconstruct(np.ndarray, shape, dtype)


_ARRAY = _ArrayType()


def read_batch(path: Path, blob: bytes | None = None, max_bytes: int = 8 * 2**30) -> dict:
    """One CIFAR batch file (``blob``: its bytes, when already read) as a dict with str keys,
    refused in one line if it is anything else: not a pickle, objects beyond plain data, object
    arrays, an array declared larger than ``max_bytes`` (data.source.memory_limit_gb's)."""
    try:
        blob = path.read_bytes() if blob is None else blob
        unpickler = _PlainUnpickler(io.BytesIO(blob), max_bytes, encoding="latin1")
        batch = unpickler.load()
    except FileNotFoundError:
        raise
    except Exception as err:
        raise UserError(f"refused {path}: {err}") from None
    if not isinstance(batch, dict):
        raise UserError(f"refused {path}: a CIFAR batch file holds a dict, not {type(batch)}")
    out = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for value in out.values():
        if isinstance(value, np.ndarray) and value.dtype == object:
            raise UserError(f"refused {path}: it holds an array of Python objects")
    return out


def long_tail_counts(max_count: int, ratio: float, num_classes: int) -> list[int]:
    """Images per class of the exponential profile, ``int(n_max · ratio^(−i/(C−1)))``: class 0
    keeps ``max_count``, the last ``max_count / ratio`` (Cao et al. 2019's CIFAR-LT)."""
    if num_classes < 2 or ratio < 1 or max_count < 1:
        raise UserError(
            f"a long-tailed profile needs at least two classes, a ratio of at least 1 and a "
            f"largest count of at least 1 (got {num_classes}, {ratio}, {max_count})"
        )
    return [int(max_count * ratio ** (-i / (num_classes - 1))) for i in range(int(num_classes))]


class CIFARSource:
    """CIFAR-10 or CIFAR-100 (``dataset``: ``cifar10`` | ``cifar100``) under ``root``."""

    def __init__(
        self,
        dataset: str = "cifar10",
        root: str | os.PathLike | None = None,
        download: bool = False,
        verify: bool = True,
        memory_limit_gb: float = 8.0,
    ) -> None:
        if dataset not in CIFAR:
            raise UserError(f"data.dataset={dataset!r} is not one of {sorted(CIFAR)}")
        self.dataset = dataset
        self.root = os.fspath(root) if root else os.environ.get("IMBALANCE_GAN_DATA", "data")
        self.download = bool(download)
        self.verify = bool(verify)
        self.memory_limit_gb = float(memory_limit_gb)
        cls, self._label_key, self.num_classes = CIFAR[dataset]
        self._cls = cls
        self._checked = False
        self.folder = Path(self.root).expanduser() / cls.base_folder
        meta = self.folder / cls.meta["filename"]
        #: the class names, in label order (from the meta file when there is one)
        self.classes: list[str] | None = None
        self._identity: dict | None = None
        if meta.is_file():
            self._check_size(meta.stat().st_size, meta)
            blob = meta.read_bytes()
            if self.verify:
                self._check_md5(meta, blob, cls.meta["md5"])
            names = read_batch(meta, blob, max_bytes=self._limit()).get(cls.meta["key"])
            if names is not None:
                self.classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]

    def identity(self) -> dict:
        """The dataset's name, which names the standard release when its MD5s are checked; a
        file of your own in this format (``verify=false``) is named by its content too."""
        if self._identity is None:
            self._identity = {"dataset": self.dataset}
            if not self.verify:  # hashed once: the files are large
                files = [n for train in (True, False) for n, _ in self._files(train)]
                present = [n for n in files if (self.folder / n).is_file()]
                self._identity["files"] = {n: file_digest(self.folder / n) for n in present}
        return self._identity

    def _files(self, train: bool) -> list[tuple[str, str]]:
        return self._cls.train_list if train else self._cls.test_list

    def _fetch(self, train: bool) -> None:
        missing = [n for n, _ in self._files(train) if not (self.folder / n).is_file()]
        if not missing:
            return
        why = "downloads are off (data.download=false)"
        if self.download:
            try:
                self._cls(self.root, train=train, download=True)
                return
            except Exception as err:  # network errors come in many types
                why = f"the download failed ({type(err).__name__})"
        raise UserError(
            f"{self.dataset} files {missing} not found in {self.folder} and {why}; point "
            f"data.root at the folder holding {self._cls.base_folder}/ (the python version of "
            "the dataset), or set data.download=true where the internet is reachable"
        )

    @staticmethod
    def _check_md5(path: Path, blob: bytes, md5: str) -> None:
        digest = hashlib.md5(blob).hexdigest()
        if digest != md5:
            raise UserError(
                f"{path} has md5 {digest}, expected {md5}: the file is corrupt; replace it with "
                "a fresh copy (or set data.source.verify=false for a file of your own in this "
                "format)"
            )

    def _limit(self) -> int:
        return int(self.memory_limit_gb * 2**30)

    def _check_size(self, need: int, what: Path | str) -> None:
        if need > self._limit():
            raise UserError(
                f"{what} would need {need / 2**30:.1f} GiB in memory, more than "
                f"data.source.memory_limit_gb={self.memory_limit_gb:g}; nothing was read (raise "
                "the limit if the machine has the memory)"
            )

    def _check_memory(self) -> None:
        """Refuse, from the files' sizes, what could not fit ``memory_limit_gb``: a file's bytes
        and the array unpickled from it while it is read, then every image as uint8 and float32
        (an array in a pickle is no larger than its bytes, and nothing else can grow)."""
        sizes = [
            (self.folder / n).stat().st_size
            for train in (True, False)
            for n, _ in self._files(train)
            if (self.folder / n).is_file()
        ]
        self._check_size(sum(sizes) * BYTES_PER_VALUE + 2 * max(sizes, default=0), self.folder)
        self._checked = True

    def load(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One split: uint8 images ``[N, 3, 32, 32]`` and int64 labels ``[N]``."""
        self._fetch(train)
        if not self._checked:
            self._check_memory()
        xs, ys = [], []
        for name, md5 in self._files(train):
            path = self.folder / name
            blob = path.read_bytes()
            if self.verify:
                self._check_md5(path, blob, md5)
            batch = read_batch(path, blob, self._limit())
            data, labels = batch.get("data"), batch.get(self._label_key)
            if data is None or labels is None:
                raise UserError(f"{path} has no `data` or no `{self._label_key}` entry")
            xs.append(torch.from_numpy(_images(data, path).reshape(-1, 3, 32, 32).copy()))
            where = f"{path}: `{self._label_key}`"
            ys.append(as_labels(labels, len(data), where, self.num_classes))
        return torch.cat(xs), torch.cat(ys)


def _images(data, path: Path) -> np.ndarray:
    """A batch's ``data``: a uint8 ``N x 3072`` array, as the release has it. A list is refused
    before numpy sees it: one of references to a single row inflates a small file into GBs."""
    if not isinstance(data, np.ndarray):
        raise UserError(
            f"{path}: `data` is a {type(data).__name__}, expected a uint8 N x 3072 numpy array "
            "(3 x 32 x 32 per row)"
        )
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UserError(
            f"{path}: `data` is {data.dtype} {list(data.shape)}, expected uint8 "
            "N x 3072 (3 x 32 x 32 per row)"
        )
    return data
