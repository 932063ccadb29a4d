"""One LightningDataModule for every model: the imbalanced train/val split and the test set."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from imbalance_gan.data.cifar import long_tail_counts
from imbalance_gan.data.imbalance import (
    check_every_class,
    check_label_range,
    class_histogram,
    resolve_class_counts,
    select_imbalanced,
    stratified_split,
    whole,
)
from imbalance_gan.data.loader import TensorLoader
from imbalance_gan.data.sources import IDXSource
from imbalance_gan.runtime.errors import UserError, raise_user_error


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, H, W]`` or ``[N, C, H, W]`` -> float32 ``[N, C, H, W]`` in [-1, 1]."""
    if images.ndim == 3:
        images = images.unsqueeze(1)
    return images.to(torch.float32).div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 in [0, 255] (the inverse of :func:`to_unit_range`)."""
    return images.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def _batch_size(value: int) -> int:
    if whole("batch_size", value) < 1:
        raise UserError(f"batch_size={value} must be at least 1")
    return int(value)


class ImbalancedDataModule(pl.LightningDataModule):
    """The study's imbalanced split of the images of a ``source`` (see ``data/sources.py``).

    ``prepare()`` loads and selects once (call it early: it validates the config).
    :meth:`identity` names the images a model sees (the cache key of what trains on them) and
    ``image_shape`` is their ``[C, H, W]``, both known without loading anything. The training
    part is the imbalanced training set minus a stratified validation part; scenarios add
    ``(images, labels)`` to the training part only via :meth:`add_training_data`. Every model
    trains through :meth:`train_dataloader`: which classes it sees (``train_classes``, all by
    default) and whether each class is drawn equally often (``class_balanced``) are set here,
    and :meth:`with_training` gives another model its own view of the same tensors.
    """

    def __init__(
        self,
        dataset: str = "mnist",
        root: str | None = None,
        minority_classes: Sequence[int] = (0,),
        minority_count: int = 300,
        class_counts: Sequence[int] | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
        num_classes: int = 10,
        image_shape: Sequence[int] = (1, 28, 28),
        batch_size: int = 256,
        eval_batch_size: int = 1000,
        on_device: bool = True,
        download: bool = True,
        train_classes: Sequence[int] | None = None,
        class_balanced: bool = False,
        top_up_to: int | None = None,
        source=None,
        path: str | None = None,
        imbalance_ratio: float | None = None,
    ) -> None:
        """Without ``source``, the images are the IDX dataset ``dataset`` under ``root``; with
        one, ``root``, ``path`` and ``download`` are the source's settings as ``data`` repeats
        them, and ``dataset`` must be the name the source gives. ``imbalance_ratio``: keep the
        exponential long-tailed profile of that ratio (:func:`long_tail_counts` from the
        smallest class's count), instead of ``class_counts`` or the minority cut."""
        super().__init__()
        if source is None:
            source = IDXSource(dataset, root, download)
        elif source.identity().get("dataset", dataset) != dataset:
            raise UserError(
                f"data.dataset={dataset!r} but data.source reads {source.identity()['dataset']!r}"
            )
        self.source = source
        #: the names of classes 0, 1, ... when the source has them (an image folder's), else None
        self.class_names = list(getattr(source, "classes", None) or []) or None
        self.dataset = dataset
        self.root = getattr(source, "root", None) or (os.fspath(root) if root else None)
        self.minority_classes = list(minority_classes)
        self.minority_count = whole("data.minority_count", minority_count)
        self.class_counts = list(class_counts) if class_counts is not None else None
        if imbalance_ratio is not None and class_counts is not None:
            raise UserError(
                "data.imbalance_ratio and data.class_counts both choose the class counts; set one"
            )
        self.imbalance_ratio = None if imbalance_ratio is None else float(imbalance_ratio)
        self.val_fraction = float(val_fraction)
        self.seed = whole("data.seed", seed)
        self.num_classes = whole("data.num_classes", num_classes)
        self.image_shape = tuple(image_shape)
        self.batch_size = _batch_size(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.on_device = on_device
        self.download = download
        self.train_classes = None if train_classes is None else list(train_classes)
        self.class_balanced = bool(class_balanced)
        #: the classifier's sampler, (labels, num_classes, seed) -> EpochSampler; None: as above
        self.train_sampler: Callable | None = None
        #: what topping-up scenarios bring each minority class to (``None``: the largest class)
        self.top_up_to = None if top_up_to is None else int(top_up_to)
        self._prepared = False
        self._extra_x: list[torch.Tensor] = []
        self._extra_y: list[torch.Tensor] = []
        #: per extra image, whether a generator made it (the synthetic loss weight's images)
        self._extra_generated: list[torch.Tensor] = []
        #: the loss weight of generated training images; None: 1, and batches carry no weights
        self.synthetic_weight: float | None = None

    # -- building -----------------------------------------------------------------------------
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
        }

    def prepare(self) -> ImbalancedDataModule:
        """Load the raw splits, select the imbalanced training set, hold out validation."""
        if self._prepared:
            return self
        images, labels = self.source.load(train=True)
        test_images, test_labels = self.source.load(train=False)
        for split, x in (("training", images), ("test", test_images)):
            shape = tuple(x.shape[1:]) if x.ndim == 4 else (1, *x.shape[1:])
            if shape != self.image_shape:
                raise UserError(
                    f"data.image_shape={list(self.image_shape)} but the {split} images of "
                    f"{self.dataset} are {list(shape)}"
                )
        for split, y in (("training", labels), ("test", test_labels)):
            if len(y) == 0:
                raise UserError(f"the {split} split of {self.dataset} holds no images")
            check_label_range(y, self.num_classes, f"the {split} split of {self.dataset}")
        self.available_counts = class_histogram(labels, self.num_classes)
        for split, counts in (
            ("training", self.available_counts),
            ("test", class_histogram(test_labels, self.num_classes)),
        ):
            # validation: stratified_split gives it every class or refuses the fraction
            check_every_class(counts, f"the {split} split of {self.dataset}", self.class_names)
        if self.imbalance_ratio is not None:
            self.class_counts = long_tail_counts(
                min(self.available_counts), self.imbalance_ratio, self.num_classes
            )
        self.counts = resolve_class_counts(
            self.available_counts, self.minority_classes, self.minority_count, self.class_counts
        )
        #: classes whose images were cut: the ones scenarios top up.
        self.minority = [
            c for c in range(self.num_classes) if self.counts[c] < self.available_counts[c]
        ]
        self.selected_idx = select_imbalanced(labels, self.counts, self.seed)
        sel_labels = labels[self.selected_idx]
        train_pos, val_pos = stratified_split(
            sel_labels, self.val_fraction, self.seed, self.num_classes
        )
        self.train_idx = self.selected_idx[train_pos]
        self.val_idx = self.selected_idx[val_pos]
        self.train_x = to_unit_range(images[self.train_idx])
        self.train_y = labels[self.train_idx]
        self.val_x = to_unit_range(images[self.val_idx])
        self.val_y = labels[self.val_idx]
        self.test_x = to_unit_range(test_images)
        self.test_y = test_labels
        self._prepared = True
        return self

    def minority_split(
        self, split: str = "train", classes: Sequence[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Real images (in [-1, 1]) and labels of the minority classes in ``split``: ``train``
        (the real training part, no added data), ``val`` or ``test``."""
        self.prepare()
        tensors = {
            "train": (self.train_x, self.train_y),
            "val": (self.val_x, self.val_y),
            "test": (self.test_x, self.test_y),
        }
        if split not in tensors:
            # refused, never silently the test set
            raise ValueError(f"unknown split {split!r}; choose one of {list(tensors)}")
        x, y = tensors[split]
        classes = self.minority if classes is None else list(classes)
        mask = torch.isin(y, torch.tensor(classes, dtype=y.dtype))
        return x[mask], y[mask]

    def minority_images(
        self, split: str = "train", classes: Sequence[int] | None = None
    ) -> torch.Tensor:
        """Real images of the minority classes in ``split`` (see :meth:`minority_split`)."""
        return self.minority_split(split, classes)[0]

    def add_training_data(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        generated: bool | torch.Tensor = False,
    ) -> None:
        """Append extra training examples (float in [-1, 1] or uint8); never touches val or test.
        ``generated``: whether a generator made them (one flag, or one per image)."""
        self.prepare()
        if images.dtype == torch.uint8:
            images = to_unit_range(images)
        if tuple(images.shape[1:]) != self.image_shape or len(images) != len(labels):
            raise UserError(
                f"extra training data has shape {tuple(images.shape)} with {len(labels)} labels; "
                f"expected [N, {', '.join(map(str, self.image_shape))}] and N labels"
            )
        self._extra_x.append(images.to(torch.float32))
        self._extra_y.append(labels.to(torch.int64))
        flags = torch.as_tensor(generated, dtype=torch.bool).expand(len(labels)).clone()
        self._extra_generated.append(flags)

    def replace_training_images(
        self,
        index: torch.Tensor,
        images: torch.Tensor,
        labels: torch.Tensor,
        generated: bool | torch.Tensor = False,
    ) -> None:
        """Drop the real training images at ``index`` and add ``images`` (made ones) instead;
        the class counts stay the same when the labels match. Never touches val or test."""
        self.prepare()
        keep = torch.ones(len(self.train_x), dtype=torch.bool)
        keep[index] = False
        self.train_x, self.train_y = self.train_x[keep], self.train_y[keep]
        self.add_training_data(images, labels, generated)

    def added_images(self, classes: Sequence[int]) -> torch.Tensor:
        """The extra training images of ``classes`` (what scenarios added), in [-1, 1]."""
        keep = torch.tensor(list(classes), dtype=torch.int64)
        parts = [x[torch.isin(y, keep)] for x, y in zip(self._extra_x, self._extra_y, strict=True)]
        return torch.cat(parts) if parts else self.train_x[:0]

    # -- what the classifier trains on -----------------------------------------------------------
    @property
    def fit_x(self) -> torch.Tensor:
        return torch.cat([self.train_x, *self._extra_x]) if self._extra_x else self.train_x

    @property
    def fit_y(self) -> torch.Tensor:
        return torch.cat([self.train_y, *self._extra_y]) if self._extra_y else self.train_y

    @property
    def fit_generated(self) -> torch.Tensor:
        """Per training image (as :attr:`fit_x`), whether a generator made it."""
        return torch.cat([torch.zeros(len(self.train_y), dtype=torch.bool), *self._extra_generated])

    def train_counts(self) -> dict[str, list[int]]:
        """Training class counts: ``real``, ``added`` and ``total``, one entry per class."""
        self.prepare()
        real = class_histogram(self.train_y, self.num_classes)
        added = [0] * self.num_classes
        for y in self._extra_y:
            added = [
                a + b for a, b in zip(added, class_histogram(y, self.num_classes), strict=True)
            ]
        return {
            "real": real,
            "added": added,
            "total": [a + b for a, b in zip(real, added, strict=True)],
        }

    def with_training(
        self,
        batch_size: int,
        classes: Sequence[int] | None = None,
        class_balanced: bool = False,
    ) -> ImbalancedDataModule:
        """A view for another model (a GAN): the same splits and tensors, its own batch size,
        training classes (``None``: all) and sampling. Data added later to either is not shared."""
        self.prepare()
        view = copy.copy(self)
        view.batch_size = _batch_size(batch_size)
        view.train_classes = None if classes is None else list(classes)
        view.class_balanced = bool(class_balanced)
        view.train_sampler = None
        view._extra_x, view._extra_y = list(self._extra_x), list(self._extra_y)
        view._extra_generated = list(self._extra_generated)
        view.synthetic_weight = None
        return view

    # -- Lightning hooks --------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        self.prepare()
        self._device = torch.device("cpu")
        trainer = getattr(self, "trainer", None)
        if self.on_device and trainer is not None:
            self._device = trainer.strategy.root_device

    def _loader(
        self, tensors: tuple[torch.Tensor, ...], batch_size: int, shuffle: bool, **kw
    ) -> TensorLoader:
        loader = TensorLoader(tensors, batch_size, shuffle=shuffle, seed=self.seed, **kw)
        return loader.to(getattr(self, "_device", torch.device("cpu")))

    def train_dataloader(self) -> TensorLoader:
        """Shuffled batches of the training part (``train_classes`` only), class-balanced draws
        when ``class_balanced``; under DDP each process takes its share of every epoch."""
        x, y = self.fit_x, self.fit_y
        tensors: tuple[torch.Tensor, ...] = (x, y)
        if self.synthetic_weight is not None:  # a third tensor: each image's loss weight
            one = torch.ones((), dtype=torch.float32)
            w = torch.where(self.fit_generated, float(self.synthetic_weight) * one, one)
            tensors = (x, y, w)
        if self.train_classes is not None:
            mask = torch.isin(y, torch.tensor(self.train_classes, dtype=y.dtype))
            tensors = tuple(t[mask] for t in tensors)
            x, y = tensors[0], tensors[1]
        weights = None
        if self.class_balanced:
            counts = torch.bincount(y, minlength=self.num_classes).float()
            weights = (1.0 / counts.clamp_min(1))[y]
        loader = self._loader(tensors, self.batch_size, shuffle=True, weights=weights)
        if self.train_sampler is not None:
            loader.sampler = self.train_sampler(y, self.num_classes, self.seed)
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.world_size > 1:
            loader.sampler.shard(trainer.global_rank, trainer.world_size)
        return loader

    def val_dataloader(self) -> TensorLoader:
        return self._loader((self.val_x, self.val_y), self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> TensorLoader:
        return self._loader((self.test_x, self.test_y), self.eval_batch_size, shuffle=False)


def build_datamodule(
    cfg_data: DictConfig, batch_size: int = 256, eval_batch_size: int = 1000
) -> ImbalancedDataModule:
    """The data module (and its source) the ``data`` config names by ``_target_``, not loaded
    yet. A config saved before ``data`` had a ``_target_`` means :class:`ImbalancedDataModule`."""
    if "_target_" not in cfg_data:
        cfg_data = OmegaConf.merge(
            {"_target_": f"{__name__}.{ImbalancedDataModule.__name__}"},
            OmegaConf.to_container(cfg_data, resolve=True),
        )
    try:
        return instantiate(cfg_data, batch_size=batch_size, eval_batch_size=eval_batch_size)
    except InstantiationException as err:  # a source inside the data module, or the module
        raise_user_error(err)
        raise


def datamodule_from_config(
    cfg_data: DictConfig, batch_size: int, eval_batch_size: int = 1000
) -> ImbalancedDataModule:
    """Build and prepare the data module from the ``data`` config group (validates it)."""
    return build_datamodule(cfg_data, batch_size, eval_batch_size).prepare()
