"""Your own images as a folder of class folders: ``<path>/<class name>/*.png`` (PNG, JPEG,
BMP, TIFF, WebP, PPM/PGM: read by Pillow, :mod:`imbalance_gan.data.images`), with
``<path>/train/<class>`` and ``<path>/test/<class>`` when you have a split of your own;
otherwise a stratified, seeded share of each class is the test set.

Classes are the folder names in sorted order (torchvision's ``ImageFolder`` convention); label
``k`` is the ``k``-th name, and runs record the names (``class_names``). Images are decoded once
and brought to ``data.image_shape`` (``fit``: ``crop`` scales the shorter side and centre-crops,
``resize`` scales each side, ``none`` refuses a mismatch); with ``data.image_shape`` unset, it
is the first image's, read from its header. Before any image is decoded, every file's header is
read and checked (``data.source.max_pixels``, its mode, a single frame), and the memory the
tensors will take is logged and refused above ``data.source.memory_limit_gb``."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from imbalance_gan.data.images import DEFAULT_MAX_PIXELS, decode, read_shape
from imbalance_gan.data.imbalance import is_whole
from imbalance_gan.runtime.errors import UserError

log = logging.getLogger(__name__)

#: what ``fit`` may be: how an image of another size becomes ``data.image_shape``
FITS = ("crop", "resize", "none")
#: the bytes one pixel value takes: the uint8 images decoded, then the float32 tensors in use
BYTES_PER_VALUE = 1 + 4


def _image_extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return IMG_EXTENSIONS


def split_folders(path: Path) -> dict[str, Path] | None:
    """``{"train": .., "test": ..}`` when ``path`` holds its own split, else None (one pool)."""
    here = {s: path / s for s in ("train", "test") if (path / s).is_dir()}
    if len(here) == 1:
        (only,) = here
        other = "test" if only == "train" else "train"
        raise UserError(
            f"{path} has a {only}/ folder but no {other}/: give both (each with one folder per "
            "class), or neither (then a share of each class is held out as the test set)"
        )
    return here or None


def class_folders(path: Path) -> list[str]:
    """The class folder names under ``path``, sorted; at least two (hidden folders skipped)."""
    if not path.is_dir():
        raise UserError(f"data.path={path} is not a folder (expected one folder per class)")
    names = sorted(d.name for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(names) < 2:
        raise UserError(
            f"{path} holds {len(names)} class folder(s) ({', '.join(names) or 'none'}); a study "
            "needs at least two classes, one folder each"
        )
    return names


def image_files(folder: Path) -> list[Path]:
    """Every image under one class folder (recursively, sorted, not following links inside
    it); a file of another kind is refused by name (hidden files, such as ``.DS_Store``, are
    skipped)."""
    extensions = _image_extensions()
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            p = Path(root) / name
            if not name.lower().endswith(extensions):
                raise UserError(
                    f"{p} is not an image file (expected one of {', '.join(extensions)}); "
                    "move it out of the class folder"
                )
            if not p.is_file():  # opening a pipe would wait forever, a dangling link fail late
                what = "a link to nothing" if p.is_symlink() and not p.exists() else "not a file"
                raise UserError(f"{p} is {what}; remove it from the class folder")
            files.append(p)
    if not files:
        raise UserError(f"class folder {folder} holds no images")
    return files


def training_root(path: Path) -> Path:
    """The folder whose class folders hold the training images: ``train/`` or ``path``."""
    return (split_folders(path) or {}).get("train", path)


def first_image_shape(path: str | os.PathLike) -> list[int]:
    """``[C, H, W]`` of the first image of the first class folder (the default image shape), from
    its header: nothing is decoded before the source checks every file and the memory."""
    root = training_root(Path(os.fspath(path)).expanduser())
    return read_shape(image_files(root / class_folders(root)[0])[0])


def class_count(path: str | os.PathLike) -> int:
    """How many classes the folder holds (its training part's class folders)."""
    return len(class_folders(training_root(Path(os.fspath(path)).expanduser())))


def size_refused(path: Path, size: Sequence[int], want: Sequence[int]) -> UserError:
    """The error for an image of another ``size`` (height, width) than ``want`` under fit=none."""
    return UserError(
        f"{path} is {size[0]} x {size[1]}, not data.image_shape's {want[0]} x {want[1]}; set "
        "data.source.fit=crop or data.source.fit=resize to bring every image to that size"
    )


def fit_image(image: torch.Tensor, shape: Sequence[int], fit: str, path: Path) -> torch.Tensor:
    """``image`` (uint8 ``[C, H, W]``) brought to ``shape``'s height and width by ``fit``."""
    from torchvision.transforms.v2 import functional as F

    height, width = int(shape[1]), int(shape[2])
    h, w = image.shape[1:]
    if (h, w) == (height, width):
        return image
    if fit == "none":
        raise size_refused(path, (h, w), (height, width))
    if fit == "resize":
        return F.resize(image, [height, width], antialias=True)
    scale = max(height / h, width / w)
    covered = F.resize(image, [max(height, round(h * scale)), max(width, round(w * scale))])
    return F.center_crop(covered, [height, width])


def _image_shape(value: Sequence[int]) -> list[int]:
    """``data.image_shape`` as given: three whole numbers, 1 or 3 channels, sides of at least 1."""
    shape = list(value)
    if len(shape) != 3 or not all(map(is_whole, shape)):
        raise UserError(f"data.image_shape={shape} must be [C, H, W], three whole numbers")
    if shape[0] not in (1, 3) or min(shape[1:]) < 1:
        raise UserError(
            f"data.image_shape={shape}: an image folder gives 1 (grey) or 3 (colour) channels, "
            "and each side is at least 1"
        )
    return [int(v) for v in shape]


#: content digests already taken in this process, by (path, size, modification time)
_DIGESTS: dict[tuple[str, int, int], str] = {}


def content_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, taken once per process while its size and time stay."""
    st = path.stat()
    key = (os.fspath(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _DIGESTS[key]


class ImageFolderSource:
    """Images in class folders (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike,
        dataset: str = "folder",
        image_shape: Sequence[int] | None = None,
        fit: str = "crop",
        test_fraction: float = 0.2,
        split_seed: int = 0,
        memory_limit_gb: float = 8.0,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.path = Path(os.fspath(path)).expanduser()
        self.root = os.fspath(self.path)
        self.dataset = str(dataset)
        if fit not in FITS:
            raise UserError(f"data.source.fit={fit!r} is not one of {', '.join(FITS)}")
        self.fit = fit
        self.test_fraction = float(test_fraction)
        if not 0 < self.test_fraction < 1:
            raise UserError(f"data.source.test_fraction={test_fraction} must lie between 0 and 1")
        self.split_seed = int(split_seed)
        self.memory_limit_gb = float(memory_limit_gb)
        if not is_whole(max_pixels) or max_pixels < 1:
            raise UserError(f"data.source.max_pixels={max_pixels!r} must be a whole number >= 1")
        self.max_pixels = int(max_pixels)
        split = split_folders(self.path)
        train_root = training_root(self.path)
        #: the class names, in label order
        self.classes = class_folders(train_root)
        index = {name: k for k, name in enumerate(self.classes)}
        self._files: dict[bool, list[tuple[Path, int]]] = {}
        if split:
            test_classes = class_folders(split["test"])
            for name in test_classes:
                if name not in index:
                    raise UserError(
                        f"{split['test'] / name} is a test class that {train_root} does not have "
                        f"(its classes: {', '.join(self.classes)})"
                    )
            for train, names in ((True, self.classes), (False, test_classes)):
                base = split["train" if train else "test"]
                self._files[train] = [(f, index[c]) for c in names for f in image_files(base / c)]
        else:
            self._files = self._split_pool({c: image_files(self.path / c) for c in self.classes})
        first = self._files[True][0][0]
        self.image_shape = _image_shape(image_shape) if image_shape else read_shape(first)
        self._loaded: dict[bool, tuple[torch.Tensor, torch.Tensor]] = {}
        self._identity: dict | None = None

    def _split_pool(self, files: dict[str, list[Path]]) -> dict[bool, list[tuple[Path, int]]]:
        """A stratified, seeded test share of every class (at least one image of each class
        stays on each side)."""
        out: dict[bool, list[tuple[Path, int]]] = {True: [], False: []}
        g = torch.Generator().manual_seed(self.split_seed)
        for k, name in enumerate(self.classes):
            paths = files[name]
            if len(paths) < 2:
                raise UserError(
                    f"class folder {self.path / name} holds {len(paths)} image; with no test/ "
                    "folder each class needs two (one for training, one for the test set)"
                )
            order = torch.randperm(len(paths), generator=g).tolist()
            n_test = min(len(paths) - 1, max(1, round(len(paths) * self.test_fraction)))
            test = set(order[:n_test])
            for i, p in enumerate(paths):
                out[i not in test].append((p, k))
        return out

    def identity(self) -> dict:
        """The dataset's name, classes, the files (relative path and content: not their place
        or their times, so a copied folder is the same data) and how they are read; the data's
        cache key, and what ``resume=true`` compares."""
        if self._identity is None:
            h = hashlib.sha256()
            for train in (True, False):
                for p, k in self._files[train]:
                    h.update(
                        f"{train}|{p.relative_to(self.path)}|{k}|{content_digest(p)}\n".encode()
                    )
            self._identity = {
                "dataset": self.dataset,
                "classes": list(self.classes),
                "files": h.hexdigest()[:16],
                "fit": self.fit,
                "test_fraction": self.test_fraction,
                "split_seed": self.split_seed,
            }
        return self._identity

    @property
    def n_images(self) -> int:
        """The images of both splits."""
        return sum(len(f) for f in self._files.values())

    def memory_bytes(self) -> int:
        """What the decoded images of both splits take in memory (uint8 and float32 copies)."""
        c, h, w = self.image_shape
        return self.n_images * c * h * w * BYTES_PER_VALUE

    def _check_memory(self) -> None:
        need, n = self.memory_bytes(), self.n_images
        shape = " x ".join(map(str, self.image_shape))
        log.info(
            "data: %d images of %s take %.1f MiB in memory (uint8 and float32)",
            n,
            shape,
            need / 2**20,
        )
        if need > self.memory_limit_gb * 2**30:
            raise UserError(
                f"{self.path}: {n} images of {shape} need {need / 2**30:.1f} GiB in memory, more "
                f"than data.source.memory_limit_gb={self.memory_limit_gb:g}; choose a smaller "
                "data.image_shape, or raise the limit if the machine has the memory"
            )

    def _check_headers(self) -> None:
        """Every file of both splits opened for its header alone (size, mode, frames), so that
        one that cannot be read, or is too large to decode, is refused before any is decoded;
        with ``fit=none`` a size other than ``data.image_shape``'s too."""
        height, width = self.image_shape[1:]
        for train in (True, False):
            for p, _ in self._files[train]:
                _, h, w = read_shape(p, self.max_pixels)
                if self.fit == "none" and (h, w) != (height, width):
                    raise size_refused(p, (h, w), (height, width))

    def load(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One split: uint8 images ``[N, C, H, W]`` and int64 labels ``[N]``, decoded once, after
        every file's header and the memory they need are checked."""
        if train not in self._loaded:
            if not self._loaded:
                self._check_headers()
                self._check_memory()
            files = self._files[train]
            channels = int(self.image_shape[0])
            images = torch.empty((len(files), *self.image_shape), dtype=torch.uint8)
            for i, (p, _) in enumerate(files):
                image = decode(p, channels, self.max_pixels)
                images[i] = fit_image(image, self.image_shape, self.fit, p)
            labels = torch.tensor([k for _, k in files], dtype=torch.int64)
            self._loaded[train] = (images, labels)
        return self._loaded[train]
