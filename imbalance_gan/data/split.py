"""The data of a run, as values that are made once and never changed.

Data flows one way: the ``data`` config builds an :class:`ImbalancedData` (the source and the
selection: which images, not yet loaded); :func:`build_split` loads and selects them into a
:class:`Split` (train / val / test tensors, class counts); a scenario turns the split's real
training part into the :class:`TrainingSet` it makes (images, labels, which are generated,
their loss weights; ``data/training.py``); and each model reads a training set through its
own thin DataModule (``data/datamodule.py``). Every step returns a new value; none changes what it was given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from imbalance_gan.data.imbalance import (
    check_every_class,
    check_label_range,
    class_histogram,
    select_imbalanced,
    stratified_split,
    whole,
)
from imbalance_gan.data.rare import (
    class_indices,
    cuts_nothing,
    kept_counts,
    rare_class_warning,
    rare_classes,
    share_of_largest,
)
from imbalance_gan.data.sources import IDXSource
from imbalance_gan.runtime.errors import UserError


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, H, W]`` or ``[N, C, H, W]`` -> float32 ``[N, C, H, W]`` in [-1, 1]."""
    if images.ndim == 3:
        images = images.unsqueeze(1)
    return images.to(torch.float32).div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 in [0, 255] (the inverse of :func:`to_unit_range`)."""
    return images.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


@dataclass(frozen=True)
class ImbalancedData:
    """Which images a run's models see: a ``source`` (see ``data/sources.py``) and the
    imbalanced selection from it. Made by the ``data`` config (its ``_target_``); it loads
    nothing, so :meth:`identity` (the cache key of what trains on the images) and
    ``image_shape`` are known at once and bad settings are refused before any work.

    Without ``source``, the images are the IDX dataset ``dataset`` under ``root``; with one,
    ``root``, ``path`` and ``download`` are the source's settings as ``data`` repeats them, and
    ``dataset`` must be the name the source gives. ``imbalance_ratio``: keep the exponential
    long-tailed profile of that ratio (:func:`long_tail_counts` from the smallest class's
    count), instead of ``class_counts`` or the minority cut. ``top_up_to``: what topping-up
    scenarios bring each minority class to (``None``: the largest class). ``on_device``: keep
    the tensors on the training device so no batch is copied.

    The rare (minority) classes: with ``minority_count`` (a cut), the classes of
    ``minority_classes``, each kept at that many images, and any class ``class_counts`` cuts;
    with ``minority_count=None`` nothing is cut, the data's own imbalance is studied, and the
    rare classes are the named ones or, with none named, every class with fewer than
    ``rare_below`` (``None``: 0.5) times the largest class's training images.
    ``minority_classes`` takes class indices or, for a source whose classes have names (an
    image folder's), the names (``[shirt]``).
    """

    dataset: str = "mnist"
    root: str | None = None
    minority_classes: Sequence[int | str] = (0,)
    minority_count: int | None = 300
    class_counts: Sequence[int] | None = None
    val_fraction: float = 0.1
    seed: int = 0
    num_classes: int = 10
    image_shape: Sequence[int] = (1, 28, 28)
    on_device: bool = True
    download: bool = True
    top_up_to: int | None = None
    source: object = None
    path: str | None = None
    imbalance_ratio: float | None = None
    rare_below: float | None = None

    def __post_init__(self) -> None:
        source = self.source
        if source is None:
            source = IDXSource(self.dataset, self.root, self.download)
        elif source.identity().get("dataset", self.dataset) != self.dataset:
            raise UserError(
                f"data.dataset={self.dataset!r} but data.source reads "
                f"{source.identity()['dataset']!r}"
            )
        if self.imbalance_ratio is not None and self.class_counts is not None:
            raise UserError(
                "data.imbalance_ratio and data.class_counts both choose the class counts; set one"
            )
        root = getattr(source, "root", None) or (os.fspath(self.root) if self.root else None)
        values = {
            "source": source,
            "root": root,
            "minority_classes": class_indices(self.minority_classes, source),
            "minority_count": None
            if self.minority_count is None
            else whole("data.minority_count", self.minority_count),
            "rare_below": share_of_largest("data.rare_below", self.rare_below),
            "class_counts": None if self.class_counts is None else tuple(self.class_counts),
            "imbalance_ratio": None
            if self.imbalance_ratio is None
            else float(self.imbalance_ratio),
            "val_fraction": float(self.val_fraction),
            "seed": whole("data.seed", self.seed),
            "num_classes": whole("data.num_classes", self.num_classes),
            "image_shape": tuple(self.image_shape),
            "on_device": bool(self.on_device),
            "top_up_to": None if self.top_up_to is None else int(self.top_up_to),
        }
        for name, value in values.items():  # normalised once, here, then never changed
            object.__setattr__(self, name, value)

    @property
    def natural(self) -> bool:
        """Whether the data's own imbalance is studied: nothing is cut."""
        return cuts_nothing(self)

    @property
    def class_names(self) -> list[str] | None:
        """The names of classes 0, 1, ... when the source has them (an image folder's)."""
        return list(getattr(self.source, "classes", None) or []) or None

    def identity(self) -> dict:
        """The plain values that decide which images a model sees: the source's, then the
        selection's (not where the files are, nor where the tensors live)."""
        return {
            **self.source.identity(),
            "minority_classes": list(self.minority_classes),
            "minority_count": self.minority_count,
            "class_counts": None if self.class_counts is None else list(self.class_counts),
            **({"imbalance_ratio": self.imbalance_ratio} if self.imbalance_ratio else {}),
            "val_fraction": self.val_fraction,
            "seed": self.seed,
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
            # which classes are rare changes what a minority-only generator trains on
            **({"rare_below": self.rare_below} if self.minority_count is None else {}),
        }


@dataclass(frozen=True, eq=False)
class Split:
    """The imbalanced split of an :class:`ImbalancedData`: float images in [-1, 1] and int64
    labels of the training part (the imbalanced selection minus a stratified validation part),
    the validation part and the whole test set. ``counts``: the selected images per class,
    ``available_counts``: the source's training images per class; ``minority``: the classes
    whose images were cut (the ones scenarios top up); ``train_idx`` and ``val_idx``: where the
    training and validation images are in the source's training split. Made by
    :func:`build_split` only."""

    data: ImbalancedData
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    counts: tuple[int, ...]
    available_counts: tuple[int, ...]
    minority: tuple[int, ...]
    train_idx: torch.Tensor
    val_idx: torch.Tensor

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.data.image_shape

    @property
    def seed(self) -> int:
        return self.data.seed

    @property
    def class_names(self) -> list[str] | None:
        return self.data.class_names

    def identity(self) -> dict:
        return self.data.identity()

    def minority_split(
        self, split: str = "train", classes: Sequence[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Real images and labels of the minority classes (or ``classes``) in ``split``:
        ``train`` (the real training part), ``val`` or ``test``."""
        tensors = {
            "train": (self.train_x, self.train_y),
            "val": (self.val_x, self.val_y),
            "test": (self.test_x, self.test_y),
        }
        if split not in tensors:
            # refused, never silently the test set
            raise ValueError(f"unknown split {split!r}; choose one of {list(tensors)}")
        x, y = tensors[split]
        classes = list(self.minority if classes is None else classes)
        mask = torch.isin(y, torch.tensor(classes, dtype=y.dtype))
        return x[mask], y[mask]

    def minority_images(
        self, split: str = "train", classes: Sequence[int] | None = None
    ) -> torch.Tensor:
        """Real images of the minority classes in ``split`` (see :meth:`minority_split`)."""
        return self.minority_split(split, classes)[0]

    def rare_class_warning(self) -> str | None:
        """One line when the choice of rare classes looks wrong (see :func:`rare_class_warning`)."""
        return rare_class_warning(self)

    def class_label(self, c: int) -> str:
        """Class ``c`` as a reader knows it: ``3 (`shirt`)``, or ``3`` without names."""
        names = self.class_names
        return f"{c} (`{names[c]}`)" if names else str(c)


def _checked_images(data: ImbalancedData) -> tuple[torch.Tensor, ...]:
    """The source's training and test images and labels, refused (one line) when their shape,
    labels or classes do not fit ``data``."""
    images, labels = data.source.load(train=True)
    test_images, test_labels = data.source.load(train=False)
    for split, x in (("training", images), ("test", test_images)):
        shape = tuple(x.shape[1:]) if x.ndim == 4 else (1, *x.shape[1:])
        if shape != data.image_shape:
            raise UserError(
                f"data.image_shape={list(data.image_shape)} but the {split} images of "
                f"{data.dataset} are {list(shape)}"
            )
    for split, y in (("training", labels), ("test", test_labels)):
        if len(y) == 0:
            raise UserError(f"the {split} split of {data.dataset} holds no images")
        check_label_range(y, data.num_classes, f"the {split} split of {data.dataset}")
    for split, y in (("training", labels), ("test", test_labels)):
        # validation: stratified_split gives it every class or refuses the fraction
        counts = class_histogram(y, data.num_classes)
        check_every_class(counts, f"the {split} split of {data.dataset}", data.class_names)
    return images, labels, test_images, test_labels


def build_split(data: ImbalancedData) -> Split:
    """Load the source's images, select the imbalanced training set and hold out validation:
    a pure function of ``data`` (its seed draws the selection and the validation part)."""
    images, labels, test_images, test_labels = _checked_images(data)
    available = class_histogram(labels, data.num_classes)
    counts = kept_counts(data, available)
    selected = select_imbalanced(labels, counts, data.seed)
    train_pos, val_pos = stratified_split(
        labels[selected], data.val_fraction, data.seed, data.num_classes
    )
    train_idx, val_idx = selected[train_pos], selected[val_pos]
    return Split(
        data=data,
        train_x=to_unit_range(images[train_idx]),
        train_y=labels[train_idx],
        val_x=to_unit_range(images[val_idx]),
        val_y=labels[val_idx],
        test_x=to_unit_range(test_images),
        test_y=test_labels,
        counts=tuple(counts),
        available_counts=tuple(available),
        minority=rare_classes(data, available, counts),
        train_idx=train_idx,
        val_idx=val_idx,
    )
