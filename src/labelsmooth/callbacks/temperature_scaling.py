"""TemperatureScaling: fits one scalar T on the best checkpoint's validation logits, applies it on test."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor

from labelsmooth.atomic import write_compact_json
from labelsmooth.metrics.calibration import (
    DEFAULT_BINS,
    EMPTY_VAL,
    calibration_report,
    confidences_and_correct,
    fit_temperature,
)

log = logging.getLogger(__name__)


class TemperatureScaling(pl.Callback):
    """Fits T when the best checkpoint is validated (`trainer.validate`) and reports metrics after scaling.

    Logs `val/temperature`, `val/{ece,mce,nll}_ts` next to the module's own `val/ece`, `val/nll`, and on test
    `test/temperature`, `test/{ece,mce,nll}_ts`, into `trainer.callback_metrics` and every logger.
    """

    def __init__(self, n_bins: int = DEFAULT_BINS, max_iter: int = 100) -> None:
        super().__init__()
        if n_bins < 1:
            raise ValueError(f"callbacks.temperature_scaling.n_bins={n_bins}: expected an integer >= 1")
        if max_iter < 1:
            raise ValueError(f"callbacks.temperature_scaling.max_iter={max_iter}: expected an integer >= 1")
        self.n_bins = n_bins
        self.max_iter = max_iter
        # Kept in memory only, no state_dict: trainer.test(ckpt_path=...) restores callback state from a
        # checkpoint written during fit, which would erase the T just fitted by trainer.validate.
        self.temperature: float | None = None

    # on_*_end, not on_*_epoch_end: Lightning 2.6 runs the callbacks' epoch-end hooks *before* the module's,
    # and the module fills `calibration_logits` in its own on_{validation,test}_epoch_end.
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != "validate" or trainer.sanity_checking:
            return  # only the final validation of the best checkpoint, not each epoch during fit
        logits, labels = _split_logits(pl_module, "val")
        self.temperature = fit_temperature(logits, labels, self.max_iter)
        log.info("temperature scaling: fitted T = %.4f on %d validation items", self.temperature, len(labels))
        self._report(trainer, "val", logits, labels)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.temperature is None:
            raise RuntimeError(
                "calibration=temperature: no temperature fitted; run trainer.validate() before trainer.test()"
            )
        logits, labels = _split_logits(pl_module, "test")
        self._report(trainer, "test", logits, labels)

    def _report(self, trainer: pl.Trainer, split: str, logits: Tensor, labels: Tensor) -> None:
        """Write the post-scaling metrics to callback_metrics (read for metrics.json) and to the loggers."""
        assert self.temperature is not None
        after = calibration_report(logits, labels, temperature=self.temperature, n_bins=self.n_bins)
        metrics = {f"{split}/{k}_ts": after[k] for k in ("ece", "mce", "nll")}
        metrics[f"{split}/temperature"] = self.temperature
        # pl_module.log is not allowed in on_*_end hooks, so both sinks are written directly.
        trainer.callback_metrics.update({k: torch.tensor(v, dtype=torch.float64) for k, v in metrics.items()})
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
            logger.save()
        if trainer.is_global_zero:
            write_calibration_items(Path(trainer.default_root_dir), split, logits, labels, self.temperature)


def write_calibration_items(
    out_dir: Path, split: str, logits: Tensor, labels: Tensor, temperature: float
) -> None:
    """`calibration_<split>.json`: per calibration item (images; tokens for NER; start and end pointers for
    QA) correctness and top-1 confidence before and after scaling by T, so ECE before and after (and a
    bootstrap of it over test items) can be recomputed without the logits."""
    confidence, correct = confidences_and_correct(logits, labels)
    confidence_ts, _ = confidences_and_correct(logits, labels, temperature)
    items = {
        "temperature": temperature,
        "correct": correct.int().tolist(),
        "confidence": confidence.tolist(),
        "confidence_ts": confidence_ts.tolist(),
    }
    write_compact_json(items, out_dir / f"calibration_{split}.json")


def _split_logits(pl_module: pl.LightningModule, split: str) -> tuple[Tensor, Tensor]:
    """The (logits, labels) a task module stored for a split; a clear error when the task stored none."""
    stored = getattr(pl_module, "calibration_logits", None)
    if stored is None:
        raise AttributeError(
            f"{type(pl_module).__name__}.calibration_logits: missing; temperature scaling needs the task to "
            "store {'val': (logits, labels), 'test': ...} at the end of each evaluation epoch"
        )
    if split not in stored:
        if split == "val":
            raise ValueError(EMPTY_VAL)
        raise ValueError(f"calibration=temperature: {type(pl_module).__name__} stored no '{split}' logits")
    return stored[split]
