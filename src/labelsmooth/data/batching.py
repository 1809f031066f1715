"""Batches of an epoch: seeded by (seed, epoch), grouped by length, sharded over ranks, resumable mid-epoch.

One sampler serves every task, training and evaluation:
- the order depends only on (seed, epoch), never on the global RNG, so a resumed run sees the same batches
  and the dropout RNG stream is not disturbed by building an iterator;
- with `lengths`, items of similar length share a batch (HF's `group_by_length`: shuffle, then sort inside
  mega-batches, see `mega_batch`; evaluation sorts everything), so little of each batch is padding;
- under DDP each rank takes every world-th batch (training) or item (evaluation), and a few are repeated so
  that every rank has the same count (DistributedSampler's convention); evaluation drops the repeated items
  by their index when it gathers the outputs, so each item is scored exactly once;
- `skip(n)` drops the first n batches of the next iteration: how a run resumed mid-epoch continues exactly.
`ResumableLoader` speaks Lightning's loader-state protocol (`state_dict` / `load_state_dict`): a checkpoint
holds the epoch and the batches the loader handed out in it, and a resumed epoch skips those.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from labelsmooth.distributed import world

# Mega-batches of at most 50 batches (HF Trainer's LengthGroupedSampler): large enough to group lengths well.
MEGA_BATCH = 50


def mega_batch(n: int, batch_size: int) -> int:
    """Batches per mega-batch, HF's rule: 50, or fewer so that an epoch holds at least 4 mega-batches (on a
    small data set one mega-batch would be a global length sort: every epoch the same batches, in another
    order). CoNLL-2003's 14,041 sentences in batches of 32: 50; the embedded 1,500: 11."""
    return max(1, min(n // (4 * batch_size), MEGA_BATCH))


class EpochBatchSampler(Sampler[list[int]]):
    """Index batches of one epoch for this rank; `train` shuffles (seeded) and pads ranks to equal counts."""

    def __init__(
        self, n: int, batch_size: int, train: bool, seed: int, lengths: Sequence[int] | None = None
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: expected an integer >= 1")
        self.n, self.batch_size, self.train, self.seed = n, batch_size, train, seed
        self.lengths = None if lengths is None else torch.as_tensor(lengths, dtype=torch.long)
        if self.lengths is not None and len(self.lengths) != n:
            raise ValueError(f"lengths: {len(self.lengths)} values for {n} items")
        self.epoch = 0
        self._skip = 0

    @property
    def sampler(self) -> EpochBatchSampler:
        # Lightning calls `set_epoch` on `loader.batch_sampler.sampler` before each epoch: that is us.
        return self

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before each epoch: the epoch seeds the order."""
        self.epoch = epoch

    def skip(self, n_batches: int) -> None:
        """Leave out the first `n_batches` of the next iteration (they were trained on before a resume)."""
        self._skip = n_batches

    def _order(self) -> torch.Tensor:
        if not self.train:
            if self.lengths is None:
                return torch.arange(self.n)
            return torch.sort(self.lengths, descending=True, stable=True).indices  # ties keep file order
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n, generator=g)
        if self.lengths is None:
            return order
        size = mega_batch(self.n, self.batch_size) * self.batch_size
        megas = [
            m[torch.sort(self.lengths[m], descending=True, stable=True).indices] for m in order.split(size)
        ]
        return torch.cat(megas) if megas else order

    def _batches(self) -> list[list[int]]:
        rank, size = world()
        if not self.train:
            order = self._order()
            if size > 1 and len(order):  # equal item counts: every rank runs the same number of batches
                order = torch.cat([order, order.repeat(size)[: (-len(order)) % size]])[rank::size]
            return [b.tolist() for b in order.split(self.batch_size)]
        batches = [b.tolist() for b in self._order().split(self.batch_size)]
        if self.train and self.lengths is not None and len(batches) > 1:
            # Shuffle the grouped batches: an epoch must not walk from long to short in each mega-batch.
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch + 1)
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        if size > 1 and batches:  # equal count on every rank (repeating from the start, as often as needed)
            batches += (batches * size)[: (-len(batches)) % size]
        return batches[rank::size]

    def __iter__(self) -> Iterator[list[int]]:
        batches, skip = self._batches(), self._skip
        self._skip = 0
        yield from batches[skip:]

    def __len__(self) -> int:
        _, size = world()
        if self.train:
            return _ceil(_ceil(self.n, self.batch_size), size)
        return _ceil(_ceil(self.n, size), self.batch_size)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


class ResumableLoader(DataLoader):
    """A DataLoader over an EpochBatchSampler that knows how far into its epoch it is.

    Lightning saves `state_dict()` with every checkpoint and gives it back before a resumed fit iterates, so
    the loader continues after the batches already trained on. The count is of batches handed to the
    training loop (not of indices the sampler produced, which workers may fetch ahead); Lightning asks at a
    step's or an epoch's end, where that count is the number of steps done in the epoch.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.batch_sampler, EpochBatchSampler):
            raise TypeError("ResumableLoader: expected batch_sampler=EpochBatchSampler(...)")
        self._epoch = 0
        self._taken = 0
        self._resume: tuple[int, int] | None = None  # (epoch, batches) of a loaded state

    def __iter__(self) -> Iterator:
        sampler = self.batch_sampler
        self._epoch, self._taken = sampler.epoch, 0
        if self._resume is not None:
            epoch, taken = self._resume
            self._resume = None
            if epoch == sampler.epoch and taken < len(sampler):  # an epoch ended is one to start afresh
                sampler.skip(taken)
                self._taken = taken
        for batch in super().__iter__():
            self._taken += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self._epoch, "batches": self._taken}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume = (int(state["epoch"]), int(state["batches"]))
