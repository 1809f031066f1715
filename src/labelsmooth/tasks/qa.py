"""Extractive QA (SQuAD 2.0): start/end pointers over [CLS] + context tokens, the official metric."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from labelsmooth.atomic import write_atomic, write_compact_json
from labelsmooth.data.module import EncoderDataModule
from labelsmooth.data.qa_features import prepare_features
from labelsmooth.data.squad import QAExample
from labelsmooth.data.windows import grouped_lengths
from labelsmooth.metrics.calibration import calibration_errors
from labelsmooth.metrics.levels import BinaryLevel
from labelsmooth.metrics.qa_postprocess import postprocess
from labelsmooth.metrics.squad_v2 import make_qid_to_has_ans, question_scores, raw_scores, squad_v2_scores
from labelsmooth.models.packing import encode
from labelsmooth.models.specs import EncoderSpec, as_config, as_spec
from labelsmooth.smoothing import Head
from labelsmooth.tasks.base import TABLE_ROWS, Decoded, TaskModule

MODEL_INPUTS = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "context_mask",
    "start_position",
    "end_position",
)


class FeatureDataset(Dataset):
    """Rows of a dict of equal-length tensors, plus each row's index (to find its window's metadata)."""

    def __init__(self, tensors: dict[str, Tensor]) -> None:
        self.tensors = tensors
        self.length = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {k: v[i] for k, v in self.tensors.items()} | {"feature_index": torch.tensor(i)}


def collate_trimmed(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Stack windows and cut the columns past the batch's longest window (padding only), noting the width."""
    batch = {k: torch.stack([item[k] for item in items]) for k in items[0]}
    width = batch["input_ids"].shape[1]
    used = int(batch["attention_mask"].sum(1).max())
    for key in ("input_ids", "attention_mask", "token_type_ids", "context_mask"):
        batch[key] = batch[key][:, :used]
    batch["max_length"] = torch.full((len(items),), width)
    return batch


class QADataModule(EncoderDataModule):
    """SQuAD 2.0 examples tokenised into (question, context window) features with gold pointers."""

    def __init__(
        self,
        source: Any,
        model: EncoderSpec,
        max_length: int,
        doc_stride: int,
        max_query_length: int,
        batch_size: int,
        eval_batch_size: int,
        seed: int = 0,
        cache_dir: str | None = None,
        group_by_length: bool = False,
    ) -> None:
        super().__init__(
            source, model, max_length, batch_size, eval_batch_size, seed, cache_dir, group_by_length
        )
        self.collate_fn = collate_trimmed
        self.doc_stride = doc_stride
        self.max_query_length = max_query_length

    def load_items(self) -> dict[str, list[QAExample]]:
        return self.source.load()

    def encode(self, items: list[QAExample], tokenizer: Any) -> dict[str, Any]:
        return prepare_features(items, tokenizer, self.max_length, self.doc_stride, self.max_query_length)

    def encode_params(self) -> dict[str, Any]:
        window = {"doc_stride": self.doc_stride, "max_query_length": self.max_query_length}
        return super().encode_params() | window

    def to_storage(self, features: dict[str, Any]) -> dict[str, Tensor]:
        return {k: torch.from_numpy(np.asarray(v)) for k, v in features.items()}

    def from_storage(self, stored: dict[str, Tensor]) -> dict[str, Any]:
        return {k: v.numpy() for k, v in stored.items()}

    def dataset(self, split: str) -> FeatureDataset:
        return FeatureDataset({k: torch.as_tensor(self.features[split][k]) for k in MODEL_INPUTS})

    def lengths(self, split: str) -> list[int]:
        lengths = np.asarray(self.features[split]["attention_mask"]).sum(1)
        if split == "train":
            return lengths.tolist()
        # A question's windows stay together, so a pass cut short (debug=fast) still scores whole questions.
        return grouped_lengths(lengths, self.features[split]["example_index"])


class QAModule(TaskModule):
    """Encoder + linear start/end scorer; each pointer head goes to the smoothing with `kind="pointer"`."""

    task_name: ClassVar[str] = "qa"
    head_kinds: ClassVar[tuple[str, ...]] = ("pointer",)
    item_key: ClassVar[str] = "feature_index"
    levels: ClassVar[dict[str, str]] = {"answer": "binary", "has_answer": "binary"}
    calibration_kind: ClassVar[str] = "pointer"
    calibration_heads: ClassVar[dict[str, str]] = {"start": "start_position", "end": "end_position"}

    def __init__(
        self,
        model: EncoderSpec | dict,
        optimizer: partial | None = None,
        warmup_ratio: float = 0.1,
        lr_decay: bool = True,
        n_best: int = 20,
        max_answer_length: int = 30,
        null_score_diff_threshold: float = 0.0,
    ) -> None:
        super().__init__(optimizer, warmup_ratio, lr_decay)
        # Plain data only (the spec as a dict), so the checkpoint loads with weights_only=True.
        model = as_spec(model)
        self.save_hyperparameters(ignore=["optimizer", "model"])
        self.hparams["model"] = as_config(model)
        self.encoder = model.build()
        self.qa_outputs = nn.Linear(self.encoder.config.hidden_size, 2)
        self.n_best = n_best
        self.max_answer_length = max_answer_length
        self.null_score_diff_threshold = null_score_diff_threshold

    def heads(self, batch: dict[str, Tensor]) -> list[Head]:
        hidden = encode(self.encoder, batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        start, end = self.qa_outputs(hidden).unbind(-1)
        mask = batch["context_mask"].bool()
        return [
            Head("start", start, batch["start_position"], mask, "pointer"),
            Head("end", end, batch["end_position"], mask, "pointer"),
        ]

    @classmethod
    def metric_names(cls, module_cfg: Mapping[str, Any]) -> list[str]:
        official = [
            f"{group}{name}" for group in ("", "HasAns_", "NoAns_") for name in ("exact", "f1", "total")
        ]
        best = ["best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"]
        return [*official, *best, "start_ece", "end_ece", "answer_ece"]

    def collect(self, batch: dict[str, Tensor], heads: list[Head]) -> dict[str, Tensor]:
        # Batches are trimmed to their longest window: pad back to max_length so every batch concatenates.
        width = batch["max_length"][0].item()
        out = {}
        for h in heads:
            logits = h.logits.detach().float().masked_fill(~h.mask, float("-inf")).cpu()
            out[h.name] = torch.nn.functional.pad(logits, (0, width - logits.shape[1]), value=float("-inf"))
        return out | {
            "start_position": batch["start_position"].cpu(),
            "end_position": batch["end_position"].cpu(),
            "feature_index": batch["feature_index"].cpu(),
        }

    def decode(self, outputs: dict[str, Tensor], split: str) -> Decoded:
        datamodule = self.trainer.datamodule
        examples, features = datamodule.items[split], datamodule.features[split]
        outputs, features, kept = _complete_examples(outputs, features, len(examples))
        examples = [examples[i] for i in kept.tolist()]
        predictions, na_probs, extra = postprocess(
            features,
            [e.context for e in examples],
            [e.id for e in examples],
            outputs["start"],
            outputs["end"],
            n_best=self.n_best,
            max_answer_length=self.max_answer_length,
            null_score_diff_threshold=self.null_score_diff_threshold,
        )
        # The official file formats, so `python -m labelsmooth.metrics.squad_v2` can re-score them.
        files = {
            f"predictions_{split}.json": partial(_write_json, predictions),
            f"na_probs_{split}.json": partial(_write_json, na_probs),
        }
        logits = torch.cat([outputs["start"], outputs["end"]])
        labels = torch.cat([outputs["start_position"], outputs["end_position"]])
        scored = f"{len(examples)} of {len(datamodule.items[split])} questions"
        rows = [
            [e.id, e.question, " | ".join(t for t, _ in e.answers), predictions[e.id], na_probs[e.id]]
            for e in examples[:TABLE_ROWS]
        ]
        table = (["id", "question", "gold", "predicted", "na_prob"], rows)
        if not getattr(datamodule, "has_gold", True):
            return Decoded({}, logits, labels, files, scored, table)
        metrics = {k: float(v) for k, v in squad_v2_scores(examples, predictions, na_probs).items()}
        # Per-question exact / F1 (their means are `exact` / `f1`): what a bootstrap over questions resamples.
        items = question_scores(examples, predictions, na_probs)
        files[f"scores_{split}.json"] = partial(write_compact_json, {"unit": "question", **items})
        for name in ("start", "end"):
            confidence, pred = outputs[name].softmax(-1).max(-1)
            metrics[f"{name}_ece"], _ = calibration_errors(confidence, pred == outputs[f"{name}_position"])
        exact, _ = raw_scores(examples, predictions)
        correct = torch.tensor([exact[e.id] for e in examples], dtype=torch.bool)
        answer_confidence = torch.as_tensor(extra["confidence"]).double()
        metrics["answer_ece"], _ = calibration_errors(answer_confidence, correct)
        # The has-answer decision: answered iff null − best <= threshold; its confidence is the probability
        # of the decision taken (1 − na_prob when it answers), right when it agrees with the gold.
        answered = torch.as_tensor(extra["answered"])
        has_ans = torch.tensor(list(make_qid_to_has_ans(examples).values()), dtype=torch.bool)
        na_prob = torch.tensor([na_probs[e.id] for e in examples], dtype=torch.float64)
        levels = {
            "answer": BinaryLevel(answer_confidence, correct),
            "has_answer": BinaryLevel(torch.where(answered, 1 - na_prob, na_prob), answered == has_ans),
        }
        return Decoded(metrics, logits, labels, files, scored, table, levels=levels)


def _write_json(value: Any, path: Path) -> None:
    write_atomic(path, json.dumps(value, indent=1))


def _complete_examples(
    outputs: dict[str, Tensor], features: dict[str, Any], n_examples: int
) -> tuple[dict[str, Tensor], dict[str, Any], Tensor]:
    """The outputs and features of the questions whose every window was seen, renumbered; their indices.

    All of them after a full pass; fewer when `limit_*_batches` or `fast_dev_run` cut the pass short.
    """
    example_of = torch.as_tensor(features["example_index"])
    windows = torch.bincount(example_of, minlength=n_examples)
    seen = torch.bincount(example_of[outputs["feature_index"]], minlength=n_examples)
    complete = (seen == windows) & (windows > 0)
    kept = complete.nonzero()[:, 0]
    rows = complete[example_of[outputs["feature_index"]]]
    outputs = {k: v[rows] for k, v in outputs.items()}
    chosen = outputs["feature_index"].numpy()
    features = {k: np.asarray(v)[chosen] for k, v in features.items()}
    features["example_index"] = torch.searchsorted(kept, torch.as_tensor(features["example_index"])).numpy()
    return outputs, features, kept
