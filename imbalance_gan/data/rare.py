"""Which classes a study treats as rare: named ones (by index or name), the ones a cut makes
rare, or, with nothing cut, those the data itself holds few of; and a warning when the choice
looks wrong. Used by :mod:`imbalance_gan.data.split`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imbalance_gan.data.cifar import long_tail_counts
from imbalance_gan.data.imbalance import check_classes, resolve_class_counts
from imbalance_gan.runtime.errors import UserError

#: an ImbalancedData (data/split.py), which imports this module
Data = Any

#: with nothing cut and no class named: a class with fewer than this share of the largest
#: class's training images is rare
RARE_BELOW = 0.5


def cuts_nothing(data) -> bool:
    """Whether the data settings ``data`` (an :class:`ImbalancedData` or a ``data`` config)
    study the data's own imbalance: no minority cut, no class counts, no long-tail ratio."""
    return (
        getattr(data, "minority_count", 300) is None
        and getattr(data, "class_counts", None) is None
        and not getattr(data, "imbalance_ratio", None)
    )


def class_indices(classes: Sequence[int | str], source: object) -> tuple[int, ...]:
    """``data.minority_classes`` as class indices: names are looked up in the source's class
    names (an image folder's, in sorted order), indices kept."""
    names = list(getattr(source, "classes", None) or [])
    out = []
    for c in classes:
        if isinstance(c, str) and not c.lstrip("-").isdigit():
            if c not in names:
                known = f"its classes: {', '.join(names)}" if names else "its classes have no names"
                raise UserError(
                    f"data.minority_classes names {c!r}, which is no class of the data "
                    f"({known}); name a class, or give its index"
                )
            c = names.index(c)
        out.append(int(c))
    return tuple(out)


def share_of_largest(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise UserError(f"{name}={value!r} must be a share of the largest class, in (0, 1]")
    return float(value)


def kept_counts(data: Data, available: list[int]) -> list[int]:
    """How many training images of each class the selection keeps."""
    class_counts = data.class_counts
    if data.imbalance_ratio is not None:
        class_counts = long_tail_counts(min(available), data.imbalance_ratio, data.num_classes)
    if data.minority_count is None and class_counts is None:  # nothing cut: the data as it is
        check_classes(list(data.minority_classes), data.num_classes)
        return list(available)
    return resolve_class_counts(
        available, list(data.minority_classes), data.minority_count or 0, class_counts
    )


def rare_classes(data: Data, available: list[int], counts: list[int]) -> tuple[int, ...]:
    """The rare classes (see :class:`ImbalancedData`): the cut ones and, under a minority cut,
    the named ones even if the cut kept every image; with nothing cut, the named ones or those
    below ``rare_below`` of the largest class."""
    if data.natural:
        if data.minority_classes:
            return tuple(sorted(data.minority_classes))
        share = RARE_BELOW if data.rare_below is None else data.rare_below
        rare = tuple(c for c, n in enumerate(available) if n < share * max(available))
        if not rare:
            raise UserError(
                f"nothing is cut (data.minority_count=null) and no class has fewer than "
                f"{share} x the largest class's {max(available)} training images "
                "(data.rare_below): name the rare class (data.minority_classes=[<name or "
                "index>]), or cut one (data.minority_count=<n>)"
            )
        return rare
    cut = {c for c in range(data.num_classes) if counts[c] < available[c]}
    if data.class_counts is None and not data.imbalance_ratio:
        cut |= set(data.minority_classes)
    return tuple(sorted(cut))


def rare_class_warning(split: Any) -> str | None:
    """One line when the choice of rare classes looks wrong: a class left alone holds fewer
    than ``rare_below`` of the largest class's training images in the source (so it is
    rare in the data, and the study is not about it); None when none does."""
    share = RARE_BELOW if split.data.rare_below is None else split.data.rare_below
    largest = max(split.available_counts)
    alone = [
        c
        for c, n in enumerate(split.available_counts)
        if c not in split.minority and n < share * largest
    ]
    if not alone:
        return None
    said = ", ".join(f"{split.class_label(c)} with {split.available_counts[c]}" for c in alone)
    rare = ", ".join(split.class_label(c) for c in split.minority) or "none"
    name = split.class_names[alone[0]] if split.class_names else alone[0]
    return (
        f"the data's own rare class{'es' if len(alone) > 1 else ''} {said} training images "
        f"(the largest class has {largest}) {'are' if len(alone) > 1 else 'is'} not studied "
        f"as rare (the rare classes: {rare}); to study {'them' if len(alone) > 1 else 'it'}: "
        f"data.minority_classes=[{name}]"
    )
