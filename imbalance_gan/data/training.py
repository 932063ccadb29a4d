"""What a model trains on: a :class:`TrainingSet`, made from a split's real training part by
a scenario (``scenarios/``), one new value per step, never changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from imbalance_gan.data.imbalance import class_histogram
from imbalance_gan.data.split import to_unit_range
from imbalance_gan.runtime.errors import UserError

if TYPE_CHECKING:
    from imbalance_gan.data.split import Split


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """What a model trains on: images (float, in [-1, 1]), their labels, which of them a
    generator made (``generated``) and which a scenario added to the real training part
    (``added``; the real images come first, in the split's order, then the added ones in the
    order they were added). ``synthetic_weight``: the loss weight of generated images
    (``None``: 1, and batches carry no weights). Each method returns a new set."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    generated: torch.Tensor = field(default=None)  # type: ignore[assignment]
    added: torch.Tensor = field(default=None)  # type: ignore[assignment]
    synthetic_weight: float | None = None

    def __post_init__(self) -> None:
        none = torch.zeros(len(self.labels), dtype=torch.bool)
        for name in ("generated", "added"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, none)
        if tuple(self.images.shape[:1]) != (len(self.labels),) or any(
            len(getattr(self, name)) != len(self.labels) for name in ("generated", "added")
        ):
            raise ValueError("a training set needs one label and one flag of each per image")

    @classmethod
    def real(cls, split: Split) -> TrainingSet:
        """The split's real training part, nothing added."""
        return cls(split.train_x, split.train_y, split.num_classes)

    def adding(
        self, images: torch.Tensor, labels: torch.Tensor, generated: bool | torch.Tensor = False
    ) -> TrainingSet:
        """This set with extra examples after it (float in [-1, 1] or uint8); ``generated``:
        whether a generator made them (one flag, or one per image)."""
        if images.dtype == torch.uint8:
            images = to_unit_range(images)
        shape = tuple(self.images.shape[1:])
        if tuple(images.shape[1:]) != shape or len(images) != len(labels):
            raise UserError(
                f"extra training data has shape {tuple(images.shape)} with {len(labels)} labels; "
                f"expected [N, {', '.join(map(str, shape))}] and N labels"
            )
        flags = torch.as_tensor(generated, dtype=torch.bool).expand(len(labels))
        return replace(
            self,
            images=torch.cat([self.images, images.to(torch.float32)]),
            labels=torch.cat([self.labels, labels.to(torch.int64)]),
            generated=torch.cat([self.generated, flags]),
            added=torch.cat([self.added, torch.ones(len(labels), dtype=torch.bool)]),
        )

    def replacing(
        self,
        index: torch.Tensor,
        images: torch.Tensor,
        labels: torch.Tensor,
        generated: bool | torch.Tensor = False,
    ) -> TrainingSet:
        """This set without the real images at ``index`` and with ``images`` (made ones) added
        instead: the class counts stay the same when the labels match."""
        keep = torch.ones(len(self.labels), dtype=torch.bool)
        keep[index] = False
        if not torch.all(keep | ~self.added):
            raise ValueError("only real training images are replaced")
        kept = replace(
            self,
            images=self.images[keep],
            labels=self.labels[keep],
            generated=self.generated[keep],
            added=self.added[keep],
        )
        return kept.adding(images, labels, generated)

    def weighted(self, synthetic_weight: float | None) -> TrainingSet:
        """This set with generated images weighted ``synthetic_weight`` in the loss."""
        return replace(self, synthetic_weight=synthetic_weight)

    def counts(self) -> dict[str, list[int]]:
        """Training class counts: ``real``, ``added`` and ``total``, one entry per class."""
        real = class_histogram(self.labels[~self.added], self.num_classes)
        added = class_histogram(self.labels[self.added], self.num_classes)
        return {
            "real": real,
            "added": added,
            "total": [a + b for a, b in zip(real, added, strict=True)],
        }

    def added_images(self, classes: Sequence[int]) -> torch.Tensor:
        """The added images of ``classes`` (what a scenario made), in [-1, 1]."""
        keep = self.added & torch.isin(self.labels, torch.tensor(list(classes), dtype=torch.int64))
        return self.images[keep]

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """``(images, labels)``, and each image's loss weight third when generated images are
        weighted."""
        if self.synthetic_weight is None:
            return self.images, self.labels
        one = torch.ones((), dtype=torch.float32)
        weights = torch.where(self.generated, float(self.synthetic_weight) * one, one)
        return self.images, self.labels, weights
