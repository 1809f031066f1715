"""Extractive QA (SQuAD 2.0): start/end pointers over [CLS] + context tokens, the official metric."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from labelsmooth.data.qa_features import prepare_features
from labelsmooth.data.squad import QAExample
from labelsmooth.metrics.calibration import calibration_errors
from labelsmooth.metrics.qa_postprocess import postprocess
from labelsmooth.metrics.squad_v2 import raw_scores, squad_v2_scores
from labelsmooth.smoothing import Head
from labelsmooth.specs import EncoderSpec, as_config, as_spec
from labelsmooth.tasks.base import EncoderDataModule, TaskModule

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
    ) -> None:
        super().__init__(source, model, max_length, batch_size, eval_batch_size)
        self.doc_stride = doc_stride
        self.max_query_length = max_query_length

    def load_items(self) -> dict[str, list[QAExample]]:
        return self.source.load()

    def encode(self, items: list[QAExample], tokenizer: Any) -> dict[str, Any]:
        return prepare_features(items, tokenizer, self.max_length, self.doc_stride, self.max_query_length)

    def dataset(self, split: str) -> FeatureDataset:
        return FeatureDataset({k: torch.as_tensor(self.features[split][k]) for k in MODEL_INPUTS})


class QAModule(TaskModule):
    """Encoder + linear start/end scorer; each pointer head goes to the smoothing with `kind="pointer"`."""

    task_name: ClassVar[str] = "qa"

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
        hidden = self.encoder(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
        ).last_hidden_state
        start, end = self.qa_outputs(hidden).unbind(-1)
        mask = batch["context_mask"].bool()
        return [
            Head("start", start, batch["start_position"], mask, "pointer"),
            Head("end", end, batch["end_position"], mask, "pointer"),
        ]

    def collect(self, batch: dict[str, Tensor], heads: list[Head]) -> dict[str, Tensor]:
        out = {h.name: h.logits.detach().float().masked_fill(~h.mask, float("-inf")).cpu() for h in heads}
        return out | {
            "start_position": batch["start_position"].cpu(),
            "end_position": batch["end_position"].cpu(),
            "feature_index": batch["feature_index"].cpu(),
        }

    def evaluate(self, outputs: list[dict[str, Tensor]], split: str) -> tuple[dict[str, float], tuple]:
        cat = {k: torch.cat([o[k] for o in outputs]) for k in outputs[0]}
        order = cat["feature_index"].argsort()
        cat = {k: v[order] for k, v in cat.items()}
        datamodule = self.trainer.datamodule
        examples = datamodule.items[split]
        predictions, na_probs, extra = postprocess(
            datamodule.features[split],
            [e.context for e in examples],
            [e.id for e in examples],
            cat["start"],
            cat["end"],
            n_best=self.n_best,
            max_answer_length=self.max_answer_length,
            null_score_diff_threshold=self.null_score_diff_threshold,
        )
        metrics = {k: float(v) for k, v in squad_v2_scores(examples, predictions, na_probs).items()}
        # The official file formats, so `python -m labelsmooth.metrics.squad_v2` can re-score them.
        out_dir = Path(self.trainer.default_root_dir)
        (out_dir / f"predictions_{split}.json").write_text(json.dumps(predictions, indent=1))
        (out_dir / f"na_probs_{split}.json").write_text(json.dumps(na_probs, indent=1))

        for name in ("start", "end"):
            confidence, pred = cat[name].softmax(-1).max(-1)
            metrics[f"{name}_ece"], _ = calibration_errors(confidence, pred == cat[f"{name}_position"])
        exact, _ = raw_scores(examples, predictions)
        correct = torch.tensor([exact[e.id] for e in examples], dtype=torch.bool)
        metrics["answer_ece"], _ = calibration_errors(torch.as_tensor(extra["confidence"]), correct)
        logits = torch.cat([cat["start"], cat["end"]])
        labels = torch.cat([cat["start_position"], cat["end_position"]])
        return metrics, (logits, labels)
