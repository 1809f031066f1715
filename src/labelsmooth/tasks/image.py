"""Image classification with an MLP: accuracy, NLL and calibration on unordered classes."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from labelsmooth.smoothing import Head
from labelsmooth.specs import MLPSpec, as_config, as_spec
from labelsmooth.tasks.base import SplitDataModule, TaskModule


class ImageDataModule(SplitDataModule):
    """Flattened images and labels from an image source, as (x, y) batches."""

    def __init__(self, source: Any, batch_size: int, eval_batch_size: int) -> None:
        super().__init__(batch_size, eval_batch_size)
        self.source = source
        self.splits: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = {split: TensorDataset(x, y) for split, (x, y) in self.source.load().items()}

    def dataset(self, split: str) -> TensorDataset:
        return self.splits[split]


class ImageModule(TaskModule):
    """MLP body + linear output layer; hands `kind="classes"` logits to the smoothing."""

    task_name: ClassVar[str] = "image"

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

    def heads(self, batch: tuple[Tensor, Tensor]) -> list[Head]:
        x, y = batch
        return [Head("classes", self.classifier(self.body(x)), y, None, "classes")]

    def collect(self, batch: tuple[Tensor, Tensor], heads: list[Head]) -> tuple[Tensor, Tensor]:
        return heads[0].logits.detach().float().cpu(), heads[0].target.cpu()

    def evaluate(self, outputs: list[tuple[Tensor, Tensor]], split: str) -> tuple[dict[str, float], tuple]:
        logits = torch.cat([o[0] for o in outputs])
        labels = torch.cat([o[1] for o in outputs])
        accuracy = 100.0 * (logits.argmax(-1) == labels).float().mean().item()
        return {"accuracy": accuracy, "error": 100.0 - accuracy}, (logits, labels)

    @torch.no_grad()
    def penultimate(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """Activations of the last hidden layer (the input of the output layer), with labels."""
        x, y = batch
        return self.body(x), y

    def classifier_weight(self) -> Tensor:
        return self.classifier.weight.detach()
