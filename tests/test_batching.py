"""EpochBatchSampler: each item once per epoch, seeded by (seed, epoch), grouping, DDP shards, skip."""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelsmooth.data import batching
from labelsmooth.data.batching import EpochBatchSampler, mega_batch

sizes = st.integers(min_value=1, max_value=300)
batch_sizes = st.integers(min_value=1, max_value=40)


def lengths_for(n: int, seed: int) -> list[int]:
    return torch.randint(1, 120, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def flat(batches) -> list[int]:
    return [i for b in batches for i in b]


@settings(max_examples=60, deadline=None)
@given(
    n=sizes, batch_size=batch_sizes, seed=st.integers(0, 10**6), grouped=st.booleans(), train=st.booleans()
)
def test_one_process_sees_every_item_exactly_once_in_full_batches(n, batch_size, seed, grouped, train):
    lengths = lengths_for(n, seed) if grouped else None
    sampler = EpochBatchSampler(n, batch_size, train=train, seed=seed, lengths=lengths)
    batches = list(sampler)
    assert sorted(flat(batches)) == list(range(n))
    assert len(batches) == len(sampler) == -(-n // batch_size)
    assert sorted(len(b) for b in batches)[1:] == [batch_size] * (len(batches) - 1)  # one short batch at most


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 300), batch_size=batch_sizes, seed=st.integers(0, 10**6), grouped=st.booleans())
def test_the_order_depends_on_seed_and_epoch_only(n, batch_size, seed, grouped):
    lengths = lengths_for(n, seed) if grouped else None

    def epoch(e: int, s: int = seed) -> list[list[int]]:
        sampler = EpochBatchSampler(n, batch_size, train=True, seed=s, lengths=lengths)
        sampler.set_epoch(e)
        torch.rand(3)  # the global RNG plays no part
        return list(sampler)

    assert epoch(0) == epoch(0) and epoch(3) == epoch(3)
    if n >= 8 and not grouped:
        assert epoch(0) != epoch(1) and epoch(0) != epoch(0, seed + 1)


def test_mega_batches_follow_hf_rule():
    assert mega_batch(14041, 32) == 50  # CoNLL-2003 train: HF's 50 batches
    assert mega_batch(1500, 32) == 11  # the embedded data: at least 4 mega-batches per epoch
    assert mega_batch(10, 32) == 1


@pytest.mark.parametrize("n", [1500, 14041])
def test_grouped_training_sorts_inside_each_mega_batch_only(n):
    lengths = lengths_for(n, 0)
    sampler = EpochBatchSampler(n, 32, train=True, seed=0, lengths=lengths)
    order = sampler._order()
    size = mega_batch(n, 32) * 32
    chunks = order.split(size)
    assert len(chunks) >= 4
    for chunk in chunks:  # descending lengths inside a mega-batch
        values = torch.as_tensor(lengths)[chunk]
        assert torch.all(values[:-1] >= values[1:])
    # ... but not across them: the epoch is no global sort
    assert not torch.all(torch.as_tensor(lengths)[order][:-1] >= torch.as_tensor(lengths)[order][1:])
    # and grouping pays: far less padding than random batches
    batches = list(sampler)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    plain = list(EpochBatchSampler(n, 32, train=True, seed=0))
    padded_plain = sum(len(b) * max(lengths[i] for i in b) for b in plain)
    assert padded < 0.75 * padded_plain


@settings(max_examples=40, deadline=None)
@given(n=sizes, batch_size=batch_sizes, world=st.integers(2, 4), train=st.booleans(), grouped=st.booleans())
def test_ranks_together_cover_every_item_with_equal_batch_counts(n, batch_size, world, train, grouped):
    lengths = lengths_for(n, 1) if grouped else None
    per_rank = []
    for rank in range(world):
        with mock.patch.object(batching, "world", return_value=(rank, world)):
            sampler = EpochBatchSampler(n, batch_size, train=train, seed=5, lengths=lengths)
            per_rank.append((list(sampler), len(sampler)))
    counts = {len(batches) for batches, _ in per_rank}
    assert len(counts) == 1 and counts == {per_rank[0][1]}  # every rank runs the same number of steps
    seen = [i for batches, _ in per_rank for i in flat(batches)]
    assert set(seen) == set(range(n))
    if not train:  # evaluation pads with repeats only up to the next multiple of the world size
        assert len(seen) == n + (-n) % world


@settings(max_examples=30, deadline=None)
@given(n=sizes, batch_size=batch_sizes, skip=st.integers(0, 20), grouped=st.booleans())
def test_skip_drops_exactly_the_batches_already_trained_on(n, batch_size, skip, grouped):
    lengths = lengths_for(n, 2) if grouped else None
    sampler = EpochBatchSampler(n, batch_size, train=True, seed=9, lengths=lengths)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.skip(skip)
    assert list(sampler) == full[skip:]
    assert list(sampler) == full  # only the next iteration is shortened
