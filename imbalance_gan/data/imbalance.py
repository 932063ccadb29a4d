"""Pure, seeded index selection: which real images each split holds."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from imbalance_gan.runtime.errors import UserError
from imbalance_gan.runtime.seeds import stream_seed


def class_histogram(labels: torch.Tensor, num_classes: int) -> list[int]:
    """Number of items of each class, as a list of ``num_classes`` ints."""
    return torch.bincount(labels, minlength=num_classes)[:num_classes].tolist()


def check_label_range(labels: torch.Tensor, num_classes: int, where: str) -> None:
    """Refuse a label outside ``0 .. num_classes - 1`` before any count is taken: a negative
    one breaks ``bincount``, a larger one is a class nobody declared. ``where``: "the test split
    of mnist", say."""
    if len(labels) == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise UserError(
            f"data.num_classes={num_classes} but {where} has label {low if low < 0 else high}; "
            f"labels are 0 .. {num_classes - 1}"
        )


def check_every_class(counts: Sequence[int], where: str, names: Sequence[str] | None) -> None:
    """Refuse a split with no image of some class (``counts``: one per class): a model never
    trained on a class, or scored on a test set without it (F1 0, AUROC and AP without a
    positive), gives numbers that look like results and are not."""
    for c, n in enumerate(counts):
        if n == 0:
            name = f" (`{names[c]}`)" if names else ""
            raise UserError(
                f"{where} holds no image of class {c}{name}, one of data.num_classes="
                f"{len(counts)}; every class is trained on and scored, so each split needs "
                "images of each: add some, or leave the class out"
            )


def is_whole(value: object) -> bool:
    """Whether ``value`` is a whole number (an int, not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def whole(name: str, value: object) -> int:
    """``value`` of the option ``name``, which must be a whole number (a UserError if not)."""
    if not is_whole(value):
        raise UserError(f"{name}={value!r} must be a whole number")
    return value


def check_classes(minority_classes: Sequence[int], num_classes: int) -> None:
    """Refuse ``data.minority_classes`` that repeat a class or name one the data lacks."""
    if len(set(minority_classes)) != len(minority_classes):
        raise UserError(f"data.minority_classes={list(minority_classes)} repeats a class")
    for c in minority_classes:
        if not isinstance(c, int) or not 0 <= c < num_classes:
            raise UserError(
                f"data.minority_classes contains {c!r}; classes are 0..{num_classes - 1}"
            )


def resolve_class_counts(
    available: Sequence[int],
    minority_classes: Sequence[int] = (0,),
    minority_count: int = 300,
    class_counts: Sequence[int] | None = None,
) -> list[int]:
    """The number of images to keep per class.

    ``class_counts`` (one entry per class) wins when given; otherwise each class in
    ``minority_classes`` keeps ``minority_count`` and every other class is kept whole.
    """
    num_classes = len(available)
    if class_counts is not None:
        if not all(map(is_whole, class_counts)):
            raise UserError(f"data.class_counts={list(class_counts)} must be whole numbers")
        counts = [int(c) for c in class_counts]
        if len(counts) != num_classes:
            raise UserError(
                f"data.class_counts has {len(counts)} entries; the dataset has {num_classes} classes"
            )
        for c, (want, have) in enumerate(zip(counts, available, strict=True)):
            if not 1 <= want <= have:
                raise UserError(
                    f"data.class_counts[{c}]={want} is impossible: class {c} has {have} images "
                    "(each count must be between 1 and that)"
                )
        return counts
    counts = list(available)
    check_classes(minority_classes, num_classes)
    for c in minority_classes:
        if not 1 <= minority_count <= available[c]:
            raise UserError(
                f"data.minority_count={minority_count} is impossible for class {c}, which has "
                f"{available[c]} images (must be between 1 and that)"
            )
        counts[c] = int(minority_count)
    return counts


def select_imbalanced(labels: torch.Tensor, counts: Sequence[int], seed: int) -> torch.Tensor:
    """Indices keeping ``counts[c]`` images of class ``c``, drawn uniformly with ``seed``.

    Classes kept whole keep all their indices; the result is sorted.
    """
    g = torch.Generator().manual_seed(int(seed))
    keep = []
    for c, n in enumerate(counts):
        idx = torch.nonzero(labels == c, as_tuple=True)[0]
        if n < len(idx):
            idx = idx[torch.randperm(len(idx), generator=g)[:n]]
        keep.append(idx)
    return torch.sort(torch.cat(keep)).values


def stratified_split(
    labels: torch.Tensor, val_fraction: float, seed: int, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split positions ``0..len(labels)-1`` into (train, val), ``val_fraction`` of each class in val.

    Every class keeps at least one item on each side (a class too small for its share to round
    to one image, as CIFAR-100-LT's 5, gives validation one), or the split is refused.
    """
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"data.val_fraction={val_fraction} must be strictly between 0 and 1")
    g = torch.Generator().manual_seed(stream_seed(seed, "data.split"))
    train, val = [], []
    for c in range(num_classes):
        idx = torch.nonzero(labels == c, as_tuple=True)[0]
        if len(idx) == 0:
            continue
        n_val = max(1, int(round(len(idx) * val_fraction)))
        if n_val < 1 or n_val >= len(idx):
            raise UserError(
                f"data.val_fraction={val_fraction} leaves class {c} ({len(idx)} images) with an "
                "empty train or validation part"
            )
        idx = idx[torch.randperm(len(idx), generator=g)]
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(val)).values
