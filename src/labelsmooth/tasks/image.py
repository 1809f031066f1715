"""Image classification with an MLP: accuracy, NLL and calibration on unordered classes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from labelsmooth.atomic import write_compact_json
from labelsmooth.data.module import SplitDataModule
from labelsmooth.metrics.calibration import confidences_and_correct
from labelsmooth.metrics.levels import ClassLevel
from labelsmooth.models.specs import MLPSpec, as_config, as_spec
from labelsmooth.smoothing import Head
from labelsmooth.tasks.base import Decoded, TaskModule


def image_ids(x: Tensor) -> list[str]:
    """A short content hash of each image's pixels (float32, row-major): names the image itself, whatever
    its label or its place in the split (the results store's test-set fingerprint hashes these)."""
    pixels = x.detach().cpu().to(torch.float32).contiguous().numpy().reshape(len(x), -1)
    return [hashlib.sha256(row.tobytes()).hexdigest()[:12] for row in pixels]


class ImageDataModule(SplitDataModule):
    """Flattened images and labels from an image source, as (x, y) batches."""

    def __init__(self, source: Any, batch_size: int, eval_batch_size: int, seed: int = 0) -> None:
        super().__init__(batch_size, eval_batch_size, seed)
        self.source = source
        self.splits: dict[str, TensorDataset] = {}

    def prepare_data(self) -> None:
        # Once per node: torchvision sources download here, never on every rank.
        self.source.prepare()

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            # Each item carries its index, so evaluation can gather and order items over processes.
            self.splits = {
                split: TensorDataset(x, y, torch.arange(len(y)))
                for split, (x, y) in self.source.load().items()
            }

    def dataset(self, split: str) -> TensorDataset:
        return self.splits[split]


class ImageModule(TaskModule):
    """MLP body + linear output layer; hands `kind="classes"` logits to the smoothing."""

    task_name: ClassVar[str] = "image"
    head_kinds: ClassVar[tuple[str, ...]] = ("classes",)
    levels: ClassVar[dict[str, str]] = {"example": "classes"}

    def __init__(
        self,
        model: MLPSpec | dict,
        in_features: int,
        num_classes: int,
        optimizer: partial | None = None,
        warmup_ratio: float = 0.0,
        lr_decay: bool = False,
    ) -> None:
        super().__init__(optimizer, warmup_ratio, lr_decay)
        # Plain data only (the spec as a dict), so the checkpoint loads with weights_only=True.
        model = as_spec(model)
        self.save_hyperparameters(ignore=["optimizer", "model"])
        self.hparams["model"] = as_config(model)
        self.class_names = [str(c) for c in range(num_classes)]
        self.body = model.build(in_features)
        self.classifier = nn.Linear(model.hidden if model.depth else in_features, num_classes)

    @classmethod
    def metric_names(cls, module_cfg: Mapping[str, Any]) -> list[str]:
        return ["accuracy", "error"]

    def heads(self, batch: tuple[Tensor, ...]) -> list[Head]:
        x, y = batch[0], batch[1]
        return [Head("classes", self.classifier(self.body(x)), y, None, "classes")]

    def collect(self, batch: tuple[Tensor, ...], heads: list[Head]) -> dict[str, Tensor]:
        return {
            "logits": heads[0].logits.detach().float().cpu(),
            "labels": batch[1].cpu(),
            "index": batch[2].cpu(),
        }

    def decode(self, outputs: dict[str, Tensor], split: str) -> Decoded:
        logits, labels = outputs["logits"], outputs["labels"]
        # The same top-1 (in float64) that ECE bins, so accuracy and calibration judge the same predictions.
        confidence, correct = confidences_and_correct(logits, labels)
        accuracy = 100.0 * correct.double().mean().item()
        dataset = self.trainer.datamodule.dataset(split)
        n = len(dataset)
        # Per image (item order): what a bootstrap over test images resamples for accuracy and ECE.
        items = {
            "unit": "image",
            "id": image_ids(dataset.tensors[0][outputs["index"]]),
            "label": labels.tolist(),
            "correct": correct.int().tolist(),
            "confidence": confidence.tolist(),
        }
        return Decoded(
            {"accuracy": accuracy, "error": 100.0 - accuracy},
            logits,
            labels,
            files={f"scores_{split}.json": partial(write_compact_json, items)},
            scored=f"{len(labels)} of {n} images",
            levels={"example": ClassLevel(logits, labels)},
        )

    @torch.no_grad()
    def penultimate(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """Activations of the last hidden layer (the input of the output layer), with labels."""
        return self.body(batch[0]), batch[1]

    def classifier_weight(self) -> Tensor:
        return self.classifier.weight.detach()
