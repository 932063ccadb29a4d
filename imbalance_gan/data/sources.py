"""Read MNIST-like datasets through torchvision, verifying the files before trusting them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torchvision import datasets

from imbalance_gan.runtime.errors import UserError

#: dataset name -> torchvision class; all share MNIST's IDX layout and folder scheme.
DATASETS = {
    "mnist": datasets.MNIST,
    "fashion_mnist": datasets.FashionMNIST,
    "kmnist": datasets.KMNIST,
}

#: Known raw files: (bytes, md5). Files not listed get a header check only.
KNOWN_FILES = {
    "MNIST": {
        "train-images-idx3-ubyte": (47_040_016, "6bbc9ace898e44ae57da46a324031adb"),
        "train-labels-idx1-ubyte": (60_008, "a25bea736e30d166cdddb491f175f624"),
        "t10k-images-idx3-ubyte": (7_840_016, "2646ac647ad5339dbf082846283269ea"),
        "t10k-labels-idx1-ubyte": (10_008, "27ae3e4e09519cfbb04c329615203637"),
    }
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


def verify_idx_file(path: Path, folder: str) -> None:
    """Check an IDX file's size and checksum (known files) or its header (any file)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime)
    if key in _VERIFIED:
        return
    known = KNOWN_FILES.get(folder, {}).get(path.name)
    if known is not None:
        size, md5 = known
        if stat.st_size != size:
            raise UserError(
                f"{path} is {stat.st_size} bytes, expected {size}: the file is truncated or "
                "corrupt; replace it with a fresh copy"
            )
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        if digest != md5:
            raise UserError(
                f"{path} has md5 {digest}, expected {md5}: the file is corrupt; "
                "replace it with a fresh copy"
            )
    else:
        _check_idx_header(path, stat.st_size)
    _VERIFIED.add(key)


def _check_idx_header(path: Path, size: int) -> None:
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08:
            raise UserError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
        ndim = head[3]
        dims = f.read(4 * ndim)
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


def load_split(
    dataset: str, root: str | os.PathLike, train: bool, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split as ``(images uint8 [N, 28, 28], labels int64 [N])``.

    Reads ``<root>/<Folder>/raw/``; only when the files are missing does it try torchvision's
    download, and a failed download ends in one error that names the folder and the fix.
    """
    check_dataset_name(dataset)
    cls = DATASETS[dataset]
    root = Path(root).expanduser()
    folder = cls.__name__
    raw = root / folder / "raw"
    files = [raw / name for name in _raw_files(train)]
    if not all(p.exists() for p in files):
        why = "downloads are off (data.download=false)"
        if download:
            try:
                cls(str(root), train=train, download=True)
            except Exception as err:  # network errors come in many types
                why = f"the download failed ({type(err).__name__})"
        missing = [p.name for p in files if not p.exists()]
        if missing:
            raise UserError(
                f"{dataset} files {missing} not found in {raw} and {why}; point data.root "
                f"(or $IMBALANCE_GAN_DATA) at a folder holding {folder}/raw/, "
                "e.g. data.root=../shared/data"
            )
    for p in files:
        verify_idx_file(p, folder)
    try:
        ds = cls(str(root), train=train, download=False)
    except Exception as err:
        raise UserError(f"could not read {dataset} from {raw}: {err}") from None
    images = ds.data.to(torch.uint8).contiguous()
    labels = ds.targets.to(torch.int64).contiguous()
    if images.ndim != 3 or len(images) != len(labels):
        raise UserError(
            f"{raw}: images {tuple(images.shape)} and labels {tuple(labels.shape)} disagree"
        )
    return images, labels
