"""Named random streams: every draw that is not the run's main stream (``seed_all(seed)``)
derives its seed here, from the run's seed and the name of what it is for, so no two purposes
share a stream by accident and no offset is an unnamed number in some module.

The offsets are the project's historical ones: each named stream draws the same numbers as its
unnamed predecessor did, so results stay what they were.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stream:
    """``seed * scale + offset + stride * index``: ``index`` numbers the draws of one purpose
    (an epoch, a round, a class)."""

    offset: int = 0
    stride: int = 1
    scale: int = 1


STREAMS: dict[str, Stream] = {
    # the stratified validation split of the imbalanced set (data/imbalance.py)
    "data.split": Stream(offset=1),
    # the order of the training batches in each epoch (index: the epoch; data/loader.py)
    "data.order": Stream(scale=1_000_003),
    # the random warps of the affine / elastic top-ups (scenarios/augment.py)
    "augment.affine": Stream(offset=7),
    "augment.elastic": Stream(offset=11),
    # which real images of the other classes a class-agnostic scenario replaces (scenarios/)
    "scenario.agnostic": Stream(offset=13),
    # the noise of a generator's synthetic set (index: the filter's round; generators/)
    "generator.synthetic": Stream(offset=1, stride=7919),
    # fresh samples of class c for a class-agnostic scenario (index: the class; scenarios/)
    "generator.per_class": Stream(offset=1),
    # the fresh head of decoupled retraining, cRT (classifier/retrain.py)
    "classifier.retrain_head": Stream(offset=17),
    # the stratified halves of the test set: choosing the best fix, reporting (classifier/)
    "test.halves": Stream(offset=19),
    # the two halves of the training minority whose distance scales the selection score
    # (generators/selection.py)
    "selection.real_halves": Stream(offset=23),
}


def stream_seed(seed: int, name: str, index: int = 0) -> int:
    """The seed of the named stream ``name`` of a run seeded ``seed`` (its ``index``-th draw)."""
    try:
        s = STREAMS[name]
    except KeyError:
        raise KeyError(f"no random stream named {name!r}; known: {sorted(STREAMS)}") from None
    return int(seed) * s.scale + s.offset + s.stride * int(index)
