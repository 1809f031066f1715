"""TaskModule: the loop shared by every task — heads go to the smoothing, eval outputs to the metrics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import partial
from itertools import repeat
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from labelsmooth.metrics.calibration import calibration_report
from labelsmooth.smoothing import Head, Smoothing


def warmup_schedule(warmup_steps: int, total_steps: int, decay: bool) -> Callable[[int], float]:
    """LR factor: linear warm-up from 0 to 1, then linear decay to 0 (BERT fine-tuning) or constant."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if not decay:
            return 1.0
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


class SplitDataModule(pl.LightningDataModule):
    """Train/val/test loaders over `dataset(split)`: shuffled training batches, larger eval batches."""

    def __init__(self, batch_size: int, eval_batch_size: int) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        # A task sets this when its items need more than torch's default collation (padding).
        self.collate_fn: Callable | None = None

    def dataset(self, split: str) -> Dataset:
        """The items of one split (after `setup`)."""
        raise NotImplementedError

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        dataset = self.dataset(split)
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=self.collate_fn)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)


class EncoderDataModule(SplitDataModule):
    """Items of a text source per split, tokenised by the encoder's fast tokenizer into model features."""

    def __init__(
        self, source: Any, model: Any, max_length: int, batch_size: int, eval_batch_size: int
    ) -> None:
        super().__init__(batch_size, eval_batch_size)
        self.source = source
        self.model = model
        self.max_length = max_length
        self.items: dict[str, list] = {}  # per split: the source's sentences or questions, as read
        self.features: dict[str, Any] = {}  # per split: what `encode` made of them

    def load_items(self) -> dict[str, list]:
        """The source's items per split."""
        raise NotImplementedError

    def encode(self, items: list, tokenizer: Any) -> Any:
        """Model features of one split's items."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.features:
            return
        self.items = self.load_items()
        tokenizer = self.model.tokenizer()
        self.on_tokenizer(tokenizer)
        self.features = {split: self.encode(items, tokenizer) for split, items in self.items.items()}

    def on_tokenizer(self, tokenizer: Any) -> None:
        """Hook for what depends on the tokenizer beyond the features (e.g. the padding id of collation)."""


class TaskModule(pl.LightningModule):
    """Base of the task modules: subclasses define `heads`, `collect`, `evaluate`; smoothing is injected."""

    task_name: ClassVar[str] = ""

    def __init__(
        self,
        optimizer: partial | None,
        warmup_ratio: float,
        lr_decay: bool,
    ) -> None:
        super().__init__()
        if not 0.0 <= warmup_ratio <= 1.0:
            raise ValueError(f"task.module.warmup_ratio={warmup_ratio}: expected a value in [0, 1]")
        self.optimizer_factory = optimizer
        self.warmup_ratio = warmup_ratio
        self.lr_decay = lr_decay
        # Set by SmoothingCallback: a module fitted without one stops, rather than train a plain cross-entropy
        # that the config and W&B would record as some other smoothing.
        self.smoothing: Smoothing | None = None
        # Filled at the end of each val/test epoch for temperature scaling and reliability diagrams.
        self.calibration_logits: dict[str, tuple[Tensor, Tensor]] = {}
        self._eval_outputs: dict[str, list[Any]] = defaultdict(list)

    # --- what a task defines -------------------------------------------------------------------------
    def heads(self, batch: dict[str, Tensor]) -> list[Head]:
        """Logits, targets and validity masks of every output head for a batch."""
        raise NotImplementedError

    def collect(self, batch: dict[str, Tensor], heads: list[Head]) -> Any:
        """What one eval batch contributes to the epoch's metrics (detached, on CPU)."""
        raise NotImplementedError

    def evaluate(self, outputs: list[Any], split: str) -> tuple[dict[str, float], tuple[Tensor, Tensor]]:
        """Task metrics of an epoch, and the (logits, labels) of its valid items for calibration."""
        raise NotImplementedError

    # --- the shared loop -----------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        if self.smoothing is None:
            raise ValueError(
                f"{type(self).__name__}: no smoothing attached; training needs callbacks.smoothing "
                "(labelsmooth.smoothing.SmoothingCallback), e.g. smoothing=none for plain cross-entropy"
            )

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Any]:
        assert self.smoothing is not None  # on_fit_start checked it
        heads = self.heads(batch)
        teacher = self.smoothing.teacher_logits(batch) or repeat(None)
        outs = [
            self.smoothing.compute(h.logits, h.target, h.mask, h.kind, teacher_logits=t)
            for h, t in zip(heads, teacher, strict=False)  # teacher may be repeat(None)
        ]
        loss = torch.stack([o.loss for o in outs]).mean()
        nll = torch.stack([o.nll for o in outs]).mean().detach()
        stats = {k: torch.stack([o.stats[k] for o in outs]).mean() for k in outs[0].stats}
        batch_size = len(heads[0].target)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
        self.log("train/nll", nll, batch_size=batch_size)
        return {"loss": loss, "nll": nll, "stats": stats}

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_outputs["val"].append(self.collect(batch, self.heads(batch)))

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_outputs["test"].append(self.collect(batch, self.heads(batch)))

    def on_validation_epoch_end(self) -> None:
        self._finish_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._finish_epoch("test")

    def _finish_epoch(self, split: str) -> None:
        outputs = self._eval_outputs.pop(split, [])
        if not outputs:
            return
        metrics, (logits, labels) = self.evaluate(outputs, split)
        self.calibration_logits[split] = (logits, labels)
        calib = calibration_report(logits, labels)
        metrics |= {k: calib[k] for k in ("ece", "mce", "nll")}
        self.log_dict({f"{split}/{k}": float(v) for k, v in metrics.items()})

    def configure_optimizers(self) -> dict[str, Any]:
        if self.optimizer_factory is None:
            raise ValueError("task.module.optimizer: required for training")
        optimizer = self.optimizer_factory(params=self.parameters())
        total = int(self.trainer.estimated_stepping_batches)
        warmup = int(self.warmup_ratio * total)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_schedule(warmup, total, self.lr_decay)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Distillation checks that a teacher checkpoint belongs to the same task.
        checkpoint["task_name"] = self.task_name
