"""The data modules every task builds on: seeded, resumable batches; encoder features tokenised once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import tokenizers
import torch
import transformers
from torch.utils.data import DataLoader, Dataset

from labelsmooth.data.batching import EpochBatchSampler, ResumableLoader
from labelsmooth.data.cache import cached


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """SHA-256 of what a fast tokenizer does (its whole serialisation: vocabulary, normaliser, pre-tokeniser,
    post-processor; its special tokens) and of the library versions: a cache key that changes with a
    changed local model folder or a tokenizers upgrade, where the model's name would not."""
    state = {
        "backend": tokenizer.backend_tokenizer.to_str(),
        "special_tokens": {k: str(v) for k, v in tokenizer.special_tokens_map.items()},
        "versions": [tokenizers.__version__, transformers.__version__],
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode("utf-8")).hexdigest()


class SplitDataModule(pl.LightningDataModule):
    """Train/val/test loaders over `dataset(split)`, batched by `EpochBatchSampler` (seeded, resumable)."""

    def __init__(
        self, batch_size: int, eval_batch_size: int, seed: int = 0, group_by_length: bool = False
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        # Training batches of similar lengths (evaluation is always sorted by length: it changes no number).
        self.group_by_length = group_by_length
        # A task sets this when its items need more than torch's default collation (padding).
        self.collate_fn: Callable | None = None

    def dataset(self, split: str) -> Dataset:
        """The items of one split (after `setup`)."""
        raise NotImplementedError

    def lengths(self, split: str) -> list[int] | None:
        """Item lengths for length-grouped batches (None: items are all the same size)."""
        return None

    def _loader(self, split: str, train: bool) -> DataLoader:
        dataset = self.dataset(split)
        size = self.batch_size if train else self.eval_batch_size
        lengths = self.lengths(split) if self.group_by_length or not train else None
        sampler = EpochBatchSampler(len(dataset), size, train, self.seed, lengths)
        # Its own generator: a loader draws a seed whenever an iterator starts, which must not move the
        # global RNG (dropout's), or a run resumed at an epoch boundary would see other dropout masks.
        generator = torch.Generator().manual_seed(self.seed)
        # Training resumes mid-epoch (Lightning's loader-state protocol); evaluation always runs whole.
        loader = ResumableLoader if train else DataLoader
        return loader(dataset, batch_sampler=sampler, collate_fn=self.collate_fn, generator=generator)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)


class EncoderDataModule(SplitDataModule):
    """Items of a text source per split, tokenised by the encoder's fast tokenizer into model features."""

    # Bump when `encode` changes what it makes, so cached features are made again.
    FEATURES_VERSION = 1

    def __init__(
        self,
        source: Any,
        model: Any,
        max_length: int,
        batch_size: int,
        eval_batch_size: int,
        seed: int,
        cache_dir: str | None,
        group_by_length: bool,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, group_by_length)
        self.source = source
        self.model = model
        self.max_length = max_length
        self.cache_dir = cache_dir
        self.items: dict[str, list] = {}  # per split: the source's sentences or questions, as read
        self.features: dict[str, Any] = {}  # per split: what `encode` made of them

    def load_items(self) -> dict[str, list]:
        """The source's items per split."""
        raise NotImplementedError

    def encode(self, items: list, tokenizer: Any) -> Any:
        """Model features of one split's items."""
        raise NotImplementedError

    def encode_params(self) -> dict[str, Any]:
        """The settings `encode` depends on beyond the items and the tokenizer (part of the cache key)."""
        return {"max_length": self.max_length}

    def to_storage(self, features: Any) -> Any:
        """Features as tensors, lists and numbers (what `torch.load(weights_only=True)` reads back)."""
        return features

    def from_storage(self, stored: Any) -> Any:
        return stored

    def prepare_data(self) -> None:
        # Once per node (Lightning calls it on local rank 0): generate or download; caches are locked files.
        self.source.prepare()

    def setup(self, stage: str | None = None) -> None:
        if self.features:
            return
        self.items = self.load_items()
        tokenizer = self.model.tokenizer()
        self.on_tokenizer(tokenizer)
        self.features = {
            split: self._features(split, items, tokenizer) for split, items in self.items.items()
        }

    def _features(self, split: str, items: list, tokenizer: Any) -> Any:
        """`encode(items)`, tokenised once per (data, tokenizer, settings): jobs 2… of a sweep and every
        DDP rank read the cached file (atomic, keyed by a hash) instead of tokenising again."""
        source_params = getattr(self.source, "params", None)
        if self.cache_dir is None or not callable(source_params):
            return self.encode(items, tokenizer)
        params = {
            "version": self.FEATURES_VERSION,
            "datamodule": type(self).__name__,
            "data": source_params(),
            "split": split,
            "tokenizer": tokenizer_fingerprint(tokenizer),
            **self.encode_params(),
        }

        def build(folder: Path) -> None:
            torch.save(self.to_storage(self.encode(items, tokenizer)), folder / "features.pt")

        def load(folder: Path) -> Any:
            return self.from_storage(torch.load(folder / "features.pt", weights_only=True))

        return cached(self.cache_dir, params, build, load)

    def on_tokenizer(self, tokenizer: Any) -> None:
        """Hook for what depends on the tokenizer beyond the features (e.g. the padding id of collation)."""
