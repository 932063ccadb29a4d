"""Batches as index slices of in-memory tensors: no per-item Python work in the loop."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from imbalance_gan.runtime.seeds import stream_seed


class EpochSampler:
    """Yields one permutation (or weighted draw) per epoch, a pure function of (seed, epoch).

    Lightning calls ``set_epoch`` at the start of every epoch, also after a resume, so the
    data order of a resumed run equals that of an uninterrupted one. Under DDP each of
    ``world_size`` processes takes every ``world_size``-th index of the same order (padded by
    wrapping around, so all ranks see the same number of batches).
    """

    def __init__(
        self,
        n: int,
        seed: int,
        shuffle: bool = True,
        weights: torch.Tensor | None = None,
    ) -> None:
        self.n = n
        self.seed = int(seed)
        self.shuffle = shuffle
        self.weights = weights
        self.epoch = 0
        self.rank, self.world_size = 0, 1

    def shard(self, rank: int, world_size: int) -> None:
        """Take this process's share of every epoch (DDP)."""
        self.rank, self.world_size = int(rank), max(1, int(world_size))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def indices(self) -> torch.Tensor:
        if not self.shuffle:
            order = torch.arange(self.n)
        else:
            g = torch.Generator().manual_seed(stream_seed(self.seed, "data.order", self.epoch))
            if self.weights is not None:
                order = torch.multinomial(self.weights, self.n, replacement=True, generator=g)
            else:
                order = torch.randperm(self.n, generator=g)
        if self.world_size == 1:
            return order
        padded = order.repeat(-(-len(self) * self.world_size // max(self.n, 1)))
        return padded[: len(self) * self.world_size][self.rank :: self.world_size]

    def __len__(self) -> int:
        return -(-self.n // self.world_size)


class TensorLoader:
    """An iterable of batches sliced from tensors that share their first dimension.

    Works as a Lightning dataloader: it has ``__len__`` and a ``sampler`` with ``set_epoch``.
    The tensors may live on the GPU; then the indices do too and no batch crosses the bus.
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        weights: torch.Tensor | None = None,
    ) -> None:
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError("all tensors must have the same length")
        self.tensors = tensors
        self.batch_size = int(batch_size)
        self.drop_last = drop_last and n >= batch_size
        self.sampler = EpochSampler(n, seed, shuffle, weights)
        #: Lightning inspects these DataLoader attributes; batches come from ``sampler`` alone.
        self.batch_sampler = None
        #: batches of the current epoch already used; saved in checkpoints for a mid-epoch resume
        self.consumed = 0
        self._resume_at = 0

    def __len__(self) -> int:
        n = len(self.sampler)
        if self.drop_last:
            return n // self.batch_size
        return (n + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        idx = self.sampler.indices().to(self.tensors[0].device)
        start, self._resume_at = self._resume_at, 0
        for i in range(start, len(self)):
            self.consumed = i + 1
            sl = idx[i * self.batch_size : (i + 1) * self.batch_size]
            yield tuple(t[sl] for t in self.tensors)

    def state_dict(self) -> dict:
        """Where in the epoch the loader is (Lightning stores it in checkpoints)."""
        return {"epoch": self.sampler.epoch, "consumed": self.consumed}

    def load_state_dict(self, state: dict) -> None:
        """Continue a checkpointed epoch after its already-used batches."""
        consumed = int(state.get("consumed", 0))
        self._resume_at = consumed if consumed < len(self) else 0

    def to(self, device: torch.device | str) -> TensorLoader:
        """Move the tensors (and so every future batch) to ``device``."""
        self.tensors = tuple(t.to(device) for t in self.tensors)
        return self
