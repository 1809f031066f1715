"""TaskModule: the loop shared by every task — heads go to the smoothing, eval outputs to the metrics."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.utilities import GradClipAlgorithmType
from torch import Tensor
from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

from labelsmooth.atomic import write_compact_json
from labelsmooth.callbacks.media import log_table
from labelsmooth.distributed import world
from labelsmooth.metrics.calibration import calibration_report
from labelsmooth.metrics.levels import Level, estimator_names, level_items, level_metrics
from labelsmooth.smoothing import Head, Smoothing

log = logging.getLogger(__name__)

# Predictions shown in the W&B table of the test split.
TABLE_ROWS = 20
# The metrics every task logs per split beside its own (from `calibration_report`).
CALIBRATION_METRICS = ("ece", "mce", "nll")


def decay_groups(module: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """BERT's recipe: weight decay on matrices only; biases and LayerNorm weights (all 1-D) are exempt."""
    params = [p for p in module.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


@dataclass
class Decoded:
    """What an eval pass decoded: predictions, scores when gold exists, calibration pairs, files to write."""

    metrics: dict[str, float]
    logits: Tensor  # valid items' logits and labels, for ECE and temperature scaling
    labels: Tensor
    files: dict[str, Callable[[Path], None]] = field(default_factory=dict)  # name -> writer (rank 0)
    scored: str = ""  # e.g. "120 of 120 sentences", for the log
    # A few predictions beside their gold, as a table for W&B: (columns, rows).
    table: tuple[list[str], list[list]] = ([], [])
    # The units the task is judged on, for the calibration estimators (metrics/levels.py); with gold only.
    levels: dict[str, Level] = field(default_factory=dict)


def gather_outputs(outputs: list[Mapping[str, Tensor]], key: str) -> dict[str, Tensor]:
    """Concatenate eval outputs of every batch and rank, ordered by the item index `key`, each item once."""
    local = {k: torch.cat([o[k] for o in outputs]) for k in outputs[0]} if outputs else {}
    _, size = world()
    if size > 1:
        everyone: list[Any] = [None] * size
        dist.all_gather_object(everyone, local)
        local = {k: torch.cat([part[k] for part in everyone if part]) for k in next(p for p in everyone if p)}
    if not local:
        return local
    # Sorting by item index gives every rank count the one-process order, so every sum is the same sum;
    # unique drops an item a sampler may have repeated to even out the ranks.
    index, first = _first_occurrences(local[key])
    return {k: v[first] for k, v in local.items()} | {key: index}


def _first_occurrences(index: Tensor) -> tuple[Tensor, Tensor]:
    """Sorted unique values of `index` and the position of the first occurrence of each."""
    order = torch.sort(index, stable=True).indices
    values = index[order]
    keep = torch.ones_like(values, dtype=torch.bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep], order[keep]


class TaskModule(pl.LightningModule):
    """Base of the task modules: subclasses define `heads`, `collect`, `decode`; smoothing is injected."""

    task_name: ClassVar[str] = ""
    # The kinds of the heads it hands to the smoothing (checked against the smoothing before training).
    head_kinds: ClassVar[tuple[str, ...]] = ()
    # The key of `collect`'s output that numbers the eval items (for gathering and de-duplication).
    item_key: ClassVar[str] = "index"
    # The levels `decode` reports calibration at: name -> a kind of metrics.levels.KINDS.
    levels: ClassVar[dict[str, str]] = {}
    # What a post-hoc calibrator sees: the kind of its heads and, per head, the outputs' logits → labels keys.
    calibration_kind: ClassVar[str] = "classes"
    calibration_heads: ClassVar[dict[str, str]] = {"logits": "labels"}

    def __init__(self, optimizer: partial | None, warmup_ratio: float, lr_decay: bool) -> None:
        super().__init__()
        if not 0.0 <= warmup_ratio <= 1.0:
            raise ValueError(f"task.module.warmup_ratio={warmup_ratio}: expected a value in [0, 1]")
        self.optimizer_factory = optimizer
        self.warmup_ratio = warmup_ratio
        self.lr_decay = lr_decay
        # Set by SmoothingCallback: a module fitted without one stops, rather than train a plain cross-entropy
        # that the config and W&B would record as some other smoothing.
        self.smoothing: Smoothing | None = None
        # The gathered outputs and their decoding of the last val/test epoch, for post-hoc calibration and
        # the reliability diagrams (callbacks read them in their on_*_end hooks).
        self.eval_results: dict[str, tuple[dict[str, Tensor], Decoded]] = {}
        # The exact (float64) metrics of the last val/test epoch, for metrics.json.
        self.split_metrics: dict[str, dict[str, float]] = {}
        self._eval_outputs: dict[str, list[Any]] = defaultdict(list)

    # --- what a task defines -------------------------------------------------------------------------
    @classmethod
    def metric_names(cls, module_cfg: Mapping[str, Any]) -> list[str]:
        """Names of the metrics `decode` reports per split (without `val/`), for config checks."""
        raise NotImplementedError

    def heads(self, batch: Any) -> list[Head]:
        """Logits, targets and validity masks of every output head for a batch."""
        raise NotImplementedError

    def collect(self, batch: Any, heads: list[Head]) -> dict[str, Tensor]:
        """What one eval batch contributes (detached, on CPU), with the item index under `item_key`."""
        raise NotImplementedError

    def decode(self, outputs: dict[str, Tensor], split: str) -> Decoded:
        """Predictions of a split's gathered outputs, their scores, calibration pairs and files."""
        raise NotImplementedError

    @classmethod
    def level_metric_names(cls, suffix: str = "") -> list[str]:
        """`<level>/<estimator><suffix>` of every calibration level (without the split)."""
        return [f"{lv}/{e}{suffix}" for lv, kind in cls.levels.items() for e in estimator_names(kind)]

    def heads_for_calibration(self, outputs: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        """The (logits, labels) a post-hoc calibrator fits on, per head, from a split's gathered outputs."""
        return {key: (outputs[key], outputs[labels]) for key, labels in self.calibration_heads.items()}

    # --- the shared loop -----------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        if self.smoothing is None:
            raise ValueError(
                f"{type(self).__name__}: no smoothing attached; training needs callbacks.smoothing "
                "(labelsmooth.callbacks.SmoothingCallback), e.g. smoothing=none for plain cross-entropy"
            )

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        assert self.smoothing is not None  # on_fit_start checked it
        heads = self.heads(batch)
        teacher = self.smoothing.teacher_logits(batch) or [None] * len(heads)
        outs = [
            self.smoothing.compute(h.logits, h.target, h.mask, h.kind, teacher_logits=t)
            for h, t in zip(heads, teacher, strict=True)  # a teacher has a logit tensor for every head
        ]
        loss = torch.stack([o.loss for o in outs]).mean()
        nll = torch.stack([o.nll for o in outs]).mean().detach()
        stats = {k: torch.stack([o.stats[k] for o in outs]).mean() for k in outs[0].stats}
        batch_size = len(heads[0].target)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
        self.log("train/nll", nll, batch_size=batch_size)
        return {"loss": loss, "nll": nll, "stats": stats}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_outputs["val"].append(self.collect(batch, self.heads(batch)))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_outputs["test"].append(self.collect(batch, self.heads(batch)))

    def on_validation_epoch_end(self) -> None:
        self._finish_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._finish_epoch("test")

    def _finish_epoch(self, split: str) -> None:
        # Every rank gathers everything and computes the same numbers; only rank 0 writes files.
        outputs = gather_outputs(self._eval_outputs.pop(split, []), self.item_key)
        if not outputs:
            return
        result = self.decode(outputs, split)
        if result.scored:
            log.info("%s: scored %s", split, result.scored)
        self.eval_results[split] = (outputs, result)
        calib = calibration_report(result.logits, result.labels)
        metrics = result.metrics | {k: calib[k] for k in CALIBRATION_METRICS} | level_metrics(result.levels)
        self.split_metrics[split] = {k: float(v) for k, v in metrics.items()}
        # Identical on every rank, so no sync: each rank's checkpoint callback sees the same numbers.
        self.log_dict({f"{split}/{k}": float(v) for k, v in metrics.items()}, sync_dist=False)
        if self.trainer.is_global_zero:
            out_dir = Path(self.trainer.default_root_dir)
            for name, write in result.files.items():
                write(out_dir / name)
            if result.levels:
                items = {"levels": {name: level_items(lv) for name, lv in result.levels.items()}}
                write_compact_json(items, out_dir / f"calibration_{split}.json")
        if split == "test":
            log_table(self.trainer, "test/predictions", *result.table)

    def configure_optimizers(self) -> dict[str, Any]:
        if self.optimizer_factory is None:
            raise ValueError("task.module.optimizer: required for training")
        weight_decay = self.optimizer_factory.keywords.get("weight_decay", 0.0)
        optimizer = self.optimizer_factory(params=decay_groups(self, weight_decay))
        total = int(self.trainer.estimated_stepping_batches)
        warmup = int(self.warmup_ratio * total)
        # Hugging Face's schedules (what BERT fine-tuning and the Trainer use): the factor rises linearly from
        # 0 at step 0 to 1 at `warmup`, then falls linearly to 0 at `total` (or stays at 1 without lr_decay).
        if self.lr_decay:
            scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
        else:
            scheduler = get_constant_schedule_with_warmup(optimizer, warmup)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        # Lightning's mixed-precision plugin refuses to clip for a fused optimizer, which unscales 16-mixed's
        # scaled gradients inside its own step. Unscale them here instead (GradScaler then tells the fused
        # step they are unscaled) and clip the true gradients; bf16-mixed has no scaler: clip as in fp32.
        plugin = self.trainer.precision_plugin
        if isinstance(plugin, MixedPrecision) and gradient_clip_val:
            if plugin.scaler is not None and getattr(optimizer, "_step_supports_amp_scaling", False):
                plugin.scaler.unscale_(optimizer)
            algorithm = GradClipAlgorithmType(gradient_clip_algorithm or "norm")
            Precision.clip_gradients(plugin, optimizer, gradient_clip_val, algorithm)
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Distillation, predict and export check that a checkpoint belongs to the right task.
        checkpoint["task_name"] = self.task_name
