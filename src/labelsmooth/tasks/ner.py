"""NER: a token-classification head on an encoder; entity F1 at word level (first sub-word of each word)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from labelsmooth.atomic import write_compact_json
from labelsmooth.data.conll import Sentence, write_predictions
from labelsmooth.data.module import EncoderDataModule
from labelsmooth.data.ner_features import collate_features, encode_sentences, words_from_predictions
from labelsmooth.data.windows import grouped_lengths
from labelsmooth.metrics.calibration import scaled_log_probs
from labelsmooth.metrics.conlleval import ner_scores, sentence_counts
from labelsmooth.metrics.levels import ClassLevel, entity_level
from labelsmooth.metrics.selective import pnorm_confidence
from labelsmooth.models.packing import encode
from labelsmooth.models.specs import EncoderSpec, as_config, as_spec
from labelsmooth.smoothing import Head
from labelsmooth.tasks.base import TABLE_ROWS, Decoded, TaskModule

# Words per sentence in the eval item index (sentence · MAX_WORDS + word): far above any real sentence.
MAX_WORDS = 1 << 20


def sentence_ids(sentences: list[Sentence]) -> list[str]:
    """A short hash of each sentence's tokens: names the sentence, not its tags (the results store's
    test-set fingerprint hashes these)."""
    return [
        hashlib.sha256(json.dumps(s.tokens, ensure_ascii=False).encode()).hexdigest()[:12] for s in sentences
    ]


class NERDataModule(EncoderDataModule):
    """Sentences from a CoNLL source, tokenised into sub-word features with first-sub-word labels."""

    def __init__(
        self,
        source: Any,
        model: EncoderSpec,
        labels: list[str],
        max_length: int,
        label_all_tokens: bool,
        batch_size: int,
        eval_batch_size: int,
        seed: int = 0,
        cache_dir: str | None = None,
        group_by_length: bool = False,
    ) -> None:
        super().__init__(
            source, model, max_length, batch_size, eval_batch_size, seed, cache_dir, group_by_length
        )
        self.labels = list(labels)
        self.label_all_tokens = label_all_tokens

    def load_items(self) -> dict[str, list[Sentence]]:
        return self.source.load(self.labels)

    def on_tokenizer(self, tokenizer: Any) -> None:
        self.collate_fn = partial(collate_features, pad_id=tokenizer.pad_token_id)

    def encode(self, items: list[Sentence], tokenizer: Any) -> list[dict]:
        label2id = {label: i for i, label in enumerate(self.labels)}
        return encode_sentences(items, tokenizer, label2id, self.max_length, self.label_all_tokens)

    def encode_params(self) -> dict[str, Any]:
        return super().encode_params() | {"labels": self.labels, "label_all_tokens": self.label_all_tokens}

    def to_storage(self, features: list[dict]) -> dict[str, Tensor]:
        # A few long tensors, not thousands of small ones (each costs the weights-only unpickler time).
        stored = {"length": torch.tensor([len(f["input_ids"]) for f in features], dtype=torch.long)}
        for key in ("input_ids", "labels", "word_index"):
            stored[key] = (
                torch.cat([f[key] for f in features]) if features else torch.zeros(0, dtype=torch.long)
            )
        stored["sentence_index"] = torch.tensor([f["sentence_index"] for f in features], dtype=torch.long)
        return stored

    def from_storage(self, stored: dict[str, Tensor]) -> list[dict]:
        sizes = stored["length"].tolist()
        parts = {key: stored[key].split(sizes) for key in ("input_ids", "labels", "word_index")}
        return [
            {**{key: parts[key][i] for key in parts}, "sentence_index": int(stored["sentence_index"][i])}
            for i in range(len(sizes))
        ]

    def dataset(self, split: str) -> list[dict]:
        return self.features[split]

    def lengths(self, split: str) -> list[int]:
        lengths = [len(f["input_ids"]) for f in self.features[split]]
        if split == "train":
            return lengths
        # A sentence's windows stay together, so a pass cut short (debug=fast) still scores whole sentences.
        return grouped_lengths(lengths, [f["sentence_index"] for f in self.features[split]])


class NERModule(TaskModule):
    """Encoder + dropout + linear tag classifier; hands `kind="tags"` logits to the smoothing."""

    task_name: ClassVar[str] = "ner"
    head_kinds: ClassVar[tuple[str, ...]] = ("tags",)
    levels: ClassVar[dict[str, str]] = {"token": "classes", "entity": "ranked"}

    def __init__(
        self,
        model: EncoderSpec | dict,
        labels: list[str],
        optimizer: partial | None = None,
        warmup_ratio: float = 0.1,
        lr_decay: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(optimizer, warmup_ratio, lr_decay)
        # Plain data only (the spec as a dict), so the checkpoint loads with weights_only=True.
        model, labels = as_spec(model), [str(label) for label in labels]
        self.save_hyperparameters(ignore=["optimizer", "model"])
        self.hparams["model"] = as_config(model)
        self.class_names = list(labels)
        # Per-type F1 keys for every type of the label set, present in the predictions or not.
        self.entity_types = sorted({label.split("-", 1)[1] for label in self.class_names if "-" in label})
        self.encoder = model.build()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.encoder.config.hidden_size, len(self.class_names))

    def _hidden(self, batch: dict[str, Tensor]) -> Tensor:
        return encode(self.encoder, batch["input_ids"], batch["attention_mask"])

    def heads(self, batch: dict[str, Tensor]) -> list[Head]:
        logits = self.classifier(self.dropout(self._hidden(batch)))
        return [Head("tags", logits, batch["labels"], None, "tags")]

    @classmethod
    def metric_names(cls, module_cfg: Mapping[str, Any]) -> list[str]:
        types = sorted({str(label).split("-", 1)[1] for label in module_cfg["labels"] if "-" in str(label)})
        return ["precision", "recall", "f1", "f1_strict", "accuracy", *(f"f1_{t}" for t in types)]

    def collect(self, batch: dict[str, Tensor], heads: list[Head]) -> dict[str, Tensor]:
        first = batch["word_index"] >= 0  # score each word once, at its first sub-word
        rows = first.nonzero()[:, 0]
        sentence, word = batch["sentence_index"][rows].cpu(), batch["word_index"][first].cpu()
        return {
            "logits": heads[0].logits[first].float().cpu(),
            "labels": batch["labels"][first].cpu(),
            "sentence_index": sentence,
            "word_index": word,
            "index": sentence * MAX_WORDS + word,  # one number per word, in reading order
        }

    def decode(self, outputs: dict[str, Tensor], split: str) -> Decoded:
        datamodule = self.trainer.datamodule
        sentences = datamodule.items[split]
        # Score the sentences whose every word was seen (all of them, unless batches were limited).
        lengths = torch.tensor([len(s.tokens) for s in sentences], dtype=torch.long)
        seen = torch.bincount(outputs["sentence_index"], minlength=len(sentences))
        complete = seen == lengths
        keep = complete[outputs["sentence_index"]]
        outputs = {k: v[keep] for k, v in outputs.items()}
        kept = complete.nonzero()[:, 0]
        subset = [sentences[i] for i in kept.tolist()]
        # Each row is one word: view them as (N, 1) "sequences" of their sentence, renumbered to `subset`.
        tag_ids = outputs["logits"].argmax(-1)
        predicted = words_from_predictions(
            tag_ids[:, None],
            outputs["word_index"][:, None],
            torch.searchsorted(kept, outputs["sentence_index"]),
            [len(s.tokens) for s in subset],
            id2label=self.class_names,
        )
        has_gold = getattr(datamodule, "has_gold", True)
        metrics = ner_scores([s.tags for s in subset], predicted, types=self.entity_types) if has_gold else {}
        # `token gold pred` lines (`token pred` without gold), readable by the conlleval command.
        write = partial(write_predictions, sentences=subset, predictions=predicted, with_gold=has_gold)
        files = {f"predictions_{split}.conll": write}
        levels = {}
        if has_gold:
            # The probability of each word's predicted tag (the tag decoded above), and its p-norm score.
            log_conf = scaled_log_probs(outputs["logits"].double()).gather(1, tag_ids[:, None])[:, 0]
            levels = {
                "token": ClassLevel(outputs["logits"], outputs["labels"]),
                "entity": entity_level(
                    [s.tags for s in subset], predicted, log_conf, pnorm_confidence(outputs["logits"])
                ),
            }
            # Entity counts per sentence (their sums give `f1`): what a bootstrap over sentences resamples.
            counts = {
                "unit": "sentence",
                "id": sentence_ids(subset),
                **sentence_counts([s.tags for s in subset], predicted),
            }
            files[f"scores_{split}.json"] = partial(write_compact_json, counts)
        rows = [
            [" ".join(s.tokens), " ".join(s.tags) if has_gold else "", " ".join(tags)]
            for s, tags in zip(subset[:TABLE_ROWS], predicted, strict=False)
        ]
        return Decoded(
            metrics,
            outputs["logits"],
            outputs["labels"],
            files=files,
            scored=f"{len(subset)} of {len(sentences)} sentences",
            table=(["tokens", "gold", "predicted"], rows),
            levels=levels,
        )

    @torch.no_grad()
    def penultimate(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Encoder features of the first sub-word of every word, with their labels."""
        first = batch["word_index"] >= 0
        return self._hidden(batch)[first], batch["labels"][first]

    def classifier_weight(self) -> Tensor:
        return self.classifier.weight.detach()
