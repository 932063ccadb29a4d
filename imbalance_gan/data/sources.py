"""Image sources: where a dataset's images and labels come from. :class:`IDXSource` reads
MNIST-like datasets (IDX files, plain or gzipped), verifying them before trusting them;
torchvision only downloads missing ones. (Arrays a user brings: ``data/arrays.py``; an image
folder: ``data/folder.py``; CIFAR: ``data/cifar.py``.)

A source is any object with ``identity()`` (plain values naming the images it gives, part of
the data's cache key) and ``load(train)`` (uint8 images ``[N, H, W]`` or ``[N, C, H, W]`` and
int64 labels ``[N]``); ``data.source`` in ``conf/data/`` names one by ``_target_``."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from imbalance_gan.runtime.errors import UserError

#: dataset name -> torchvision class; all share MNIST's IDX layout and folder scheme.
DATASETS = {
    "mnist": datasets.MNIST,
    "fashion_mnist": datasets.FashionMNIST,
    "kmnist": datasets.KMNIST,
}

#: Folders that system packages install a dataset's raw files into, searched after
#: ``<root>/<Folder>/raw/``: (folder, package). ``apt-get install dataset-fashion-mnist``.
SYSTEM_DIRS = {
    "fashion_mnist": (("/usr/share/datasets/fashion-mnist", "Debian's dataset-fashion-mnist"),)
}

#: Known raw files, uncompressed: (bytes, md5). Files not listed get a header check only.
KNOWN_FILES = {
    "MNIST": {
        "train-images-idx3-ubyte": (47_040_016, "6bbc9ace898e44ae57da46a324031adb"),
        "train-labels-idx1-ubyte": (60_008, "a25bea736e30d166cdddb491f175f624"),
        "t10k-images-idx3-ubyte": (7_840_016, "2646ac647ad5339dbf082846283269ea"),
        "t10k-labels-idx1-ubyte": (10_008, "27ae3e4e09519cfbb04c329615203637"),
    },
    # Zalando's release, as Debian's dataset-fashion-mnist ships it (upstream commit 55506a9)
    "FashionMNIST": {
        "train-images-idx3-ubyte": (47_040_016, "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "train-labels-idx1-ubyte": (60_008, "9018921c3c673c538a1fc5bad174d6f9"),
        "t10k-images-idx3-ubyte": (7_840_016, "8181f5470baa50b63fa0f6fddb340f0a"),
        "t10k-labels-idx1-ubyte": (10_008, "15d484375f8d13e6eb1aabb0c3f46965"),
    },
}

_VERIFIED: set[tuple[str, int, float]] = set()


def default_root() -> str:
    """The data root: ``$IMBALANCE_GAN_DATA`` if set, else ``data/``."""
    return os.environ.get("IMBALANCE_GAN_DATA", "data")


def check_dataset_name(name: str) -> None:
    """Fail with the list of options when ``name`` is not a known dataset."""
    if name not in DATASETS:
        raise UserError(
            f"data.dataset={name!r} is not a known dataset; choose one of {sorted(DATASETS)}"
        )


def _raw_files(train: bool) -> list[str]:
    prefix = "train" if train else "t10k"
    return [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]


def _idx_bytes(path: Path, folder: str) -> bytes:
    """The content of an IDX file, plain or ``.gz``, read once and verified once per version:
    size and checksum for known files, the header for any other."""
    blob = path.read_bytes()
    packed = path.suffix == ".gz"
    if packed:
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as err:
            raise UserError(f"{path} is not a readable gzip file ({err}); replace it") from None
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime)
    if key not in _VERIFIED:
        _verify_idx_bytes(blob, path.stem if packed else path.name, folder, path)
        _VERIFIED.add(key)
    return blob


def verify_idx_file(path: Path, folder: str) -> None:
    """Check an IDX file's size and checksum (known files) or its header (any file)."""
    _idx_bytes(path, folder)


def _verify_idx_bytes(data: bytes, name: str, folder: str, path: Path) -> None:
    known = KNOWN_FILES.get(folder, {}).get(name)
    if known is None:
        _check_idx_header(path, data)
        return
    size, md5 = known
    if len(data) != size:
        raise UserError(
            f"{path} holds {len(data)} bytes, expected {size}: the file is truncated or "
            "corrupt; replace it with a fresh copy"
        )
    digest = hashlib.md5(data).hexdigest()
    if digest != md5:
        raise UserError(
            f"{path} has md5 {digest}, expected {md5}: the file is corrupt; "
            "replace it with a fresh copy"
        )


def _check_idx_header(path: Path, data: bytes) -> None:
    size = len(data)
    if size < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    dims = data[4 : 4 + 4 * ndim]
    if len(dims) < 4 * ndim:
        raise UserError(f"{path} is truncated: its header is incomplete")
    expected = 4 + 4 * ndim
    count = 1
    for i in range(ndim):
        count *= int.from_bytes(dims[4 * i : 4 * i + 4], "big")
    expected += count
    if size != expected:
        raise UserError(
            f"{path} is {size} bytes but its header promises {expected}: the file is truncated "
            "or corrupt"
        )


def _missing(raw: Path, train: bool) -> list[str]:
    """The split's files that ``raw`` lacks (neither plain nor gzipped); all when it has none."""
    missing = [
        n for n in _raw_files(train) if not any((raw / f"{n}{e}").exists() for e in ("", ".gz"))
    ]
    return missing or _raw_files(train)


def _find_raw(dataset: str, root: Path, train: bool) -> list[Path] | None:
    """The split's two files, plain or gzipped, from the first folder that has both."""
    folder = DATASETS[dataset].__name__
    system = [Path(d) for d, _ in SYSTEM_DIRS.get(dataset, ())]
    for raw in (root / folder / "raw", *system):
        found = []
        for name in _raw_files(train):
            plain, packed = raw / name, raw / f"{name}.gz"
            found.append(plain if plain.exists() else packed if packed.exists() else None)
        if all(found):
            return found
    return None


def read_idx(path: Path, folder: str) -> torch.Tensor:
    """An IDX file of unsigned bytes (plain or ``.gz``) as a uint8 tensor, verified first."""
    data = _idx_bytes(path, folder)
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(data[4 + 4 * ndim :]), dtype=torch.uint8).view(*dims)


def load_split(
    dataset: str, root: str | os.PathLike, train: bool, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split as ``(images uint8 [N, 28, 28], labels int64 [N])``.

    Reads ``<root>/<Folder>/raw/`` (plain or gzipped IDX files), then the folder a system
    package installs the dataset into (``SYSTEM_DIRS``); only when the files are in neither
    does it try torchvision's download, and a failed download ends in one error that names the
    folder and the fix.
    """
    check_dataset_name(dataset)
    cls = DATASETS[dataset]
    root = Path(root).expanduser()
    folder = cls.__name__
    raw = root / folder / "raw"
    files = _find_raw(dataset, root, train)
    if files is None:
        why = "downloads are off (data.download=false)"
        if download:
            try:
                cls(str(root), train=train, download=True)
            except Exception as err:  # network errors come in many types
                why = f"the download failed ({type(err).__name__})"
        files = _find_raw(dataset, root, train)
        if files is None:
            system = "".join(
                f", or install {pkg} (its files land in {d})"
                for d, pkg in SYSTEM_DIRS.get(dataset, ())
            )
            raise UserError(
                f"{dataset} files {_missing(raw, train)} not found in {raw} and {why}; point "
                f"data.root (or $IMBALANCE_GAN_DATA) at a folder holding {folder}/raw/, "
                f"e.g. data.root=../shared/data{system}"
            )
    images, labels = (read_idx(p, folder) for p in files)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(
            f"{files[0].parent}: images {tuple(images.shape)} and labels {tuple(labels.shape)} "
            "disagree"
        )
    return images.contiguous(), labels.to(torch.int64)


class IDXSource:
    """An MNIST-like dataset of IDX files (``mnist``, ``fashion_mnist``, ``kmnist``)."""

    def __init__(
        self, dataset: str = "mnist", root: str | os.PathLike | None = None, download: bool = True
    ) -> None:
        check_dataset_name(dataset)
        self.dataset = dataset
        self.root = os.fspath(root) if root else default_root()
        self.download = bool(download)

    def identity(self) -> dict:
        """What names its images: the dataset (the folder and download do not)."""
        return {"dataset": self.dataset}

    def load(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One split: uint8 images ``[N, 28, 28]`` and int64 labels ``[N]`` (see :func:`load_split`)."""
        return load_split(self.dataset, self.root, train=train, download=self.download)


def file_digest(path: Path) -> str:
    """The first 16 hex digits of a file's SHA-256: names its content in cache keys."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def as_uint8_nchw(images, where: str) -> torch.Tensor:
    """Images ``N x H x W``, ``N x H x W x C`` or ``N x C x H x W`` (C of 1, 3 or 4), uint8 or
    float in [0, 1], as uint8 ``[N, C, H, W]``; anything else refused in one line."""
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4:
        if a.shape[-1] in (1, 3, 4) and a.shape[1] not in (1, 3, 4):
            a = a.transpose(0, 3, 1, 2)  # N x H x W x C
        elif a.shape[1] not in (1, 3, 4):
            raise UserError(
                f"{where}: images of shape {list(a.shape)} have no channel axis of 1, 3 or 4"
            )
    else:
        raise UserError(
            f"{where}: images have shape {list(a.shape)}; expected N x H x W, N x H x W x C or "
            "N x C x H x W"
        )
    if a.dtype == np.uint8:
        pass
    elif np.issubdtype(a.dtype, np.floating):
        if a.size and (np.nanmin(a) < 0 or np.nanmax(a) > 1 or np.isnan(a).any()):
            raise UserError(f"{where}: float images must lie in [0, 1] (or be uint8)")
        a = np.rint(a * 255).astype(np.uint8)
    else:
        raise UserError(f"{where}: images are {a.dtype}; expected uint8, or float in [0, 1]")
    return torch.from_numpy(np.ascontiguousarray(a))


def as_labels(labels, n: int, where: str, num_classes: int | None = None) -> torch.Tensor:
    """Integer class labels ``[n]`` (int64), each in ``0 .. num_classes - 1`` (None: any that
    int64 holds), checked as the integers they are before the cast, so that a uint64 label of
    2**64 - 1 is refused rather than wrapped to -1. A list is checked item by item first: a
    list of references to one long row would inflate in ``np.asarray``."""
    if isinstance(labels, list | tuple):
        bad = next((v for v in labels if not _is_int(v)), None)
        if bad is not None:
            raise UserError(
                f"{where}: a label is {type(bad).__name__} {bad!r:.40}; expected integers "
                "0 .. classes - 1"
            )
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise UserError(f"{where}: {n} images but labels of shape {list(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{where}: labels are {y.dtype}; expected integers 0 .. classes - 1")
    if len(y):
        low, high = int(y.min()), int(y.max())
        if low < 0:
            raise UserError(f"{where}: label {low} is negative; labels are 0 .. classes - 1")
        if num_classes is not None and high >= num_classes:
            raise UserError(
                f"{where}: label {high} is not a class of data.num_classes={num_classes} "
                f"(labels are 0 .. {num_classes - 1})"
            )
        if high >= 2**63:
            raise UserError(f"{where}: label {high} is too large; labels are 0 .. classes - 1")
    return torch.from_numpy(y.astype(np.int64))


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
