"""PostHocCalibration: fits a calibrator on the best checkpoint's validation logits, applies it on test.

`calibration=temperature|vector|matrix|dirichlet` picks the calibrator (metrics/calibrators.py). It is fitted
when the best checkpoint is validated (`trainer.validate`), on validation logits only, and applied to the
validation and test logits; the task decodes the calibrated logits through its own `decode` (the one eval
path), so every estimator of every level is reported again after calibration, under the calibrator's suffix:
`test/entity/ece_ts`, `test/example/nll_dir`, and the calibration items' `test/ece_ts`, `test/nll_ts`. The
fitted parameters are `val/temperature` etc. (the calibrator's `fitted()`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import get_class
from torch import Tensor

from labelsmooth.atomic import write_compact_json
from labelsmooth.callbacks.reliability import write_reliability
from labelsmooth.metrics.calibration import DEFAULT_BINS, calibration_report
from labelsmooth.metrics.calibrators import Calibrator
from labelsmooth.metrics.levels import level_items, level_metrics

log = logging.getLogger(__name__)

# The calibration items' metrics reported again after calibration (beside every level's estimators).
ITEM_METRICS = ("ece", "mce", "nll")


class PostHocCalibration(pl.Callback):
    """Fits `calibrator` in `trainer.validate` of the best checkpoint, reports before/after on val and test.

    Writes into `trainer.callback_metrics` (read for metrics.json) and every logger, and on rank 0
    `calibration_<split>_<suffix>.json` (per level: confidence and correctness after calibration) and the
    calibrated levels' reliability diagrams.
    """

    def __init__(self, calibrator: Calibrator, n_bins: int = DEFAULT_BINS, rounds: int = 500) -> None:
        super().__init__()
        if n_bins < 1:
            raise ValueError(f"callbacks.calibration.n_bins={n_bins}: expected an integer >= 1")
        self.calibrator = calibrator
        self.n_bins = n_bins
        self.rounds = rounds
        # In memory only, no state_dict: trainer.test(ckpt_path=...) restores callback state from a
        # checkpoint written during fit, which would erase the calibrator just fitted by trainer.validate.
        self.fitted = False

    @staticmethod
    def names_for(node: Any, module_cls: type) -> list[str]:
        """The metric names it adds for a task (config checks: `optimized_metric=test/entity/ece_ts`)."""
        suffix = "_" + get_class(node.calibrator._target_).suffix
        return [f"{k}{suffix}" for k in ITEM_METRICS] + module_cls.level_metric_names(suffix)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.calibrator.check_kind(pl_module.calibration_kind)

    # on_*_end, not on_*_epoch_end: Lightning runs the callbacks' epoch-end hooks *before* the module's,
    # and the module fills `eval_results` in its own on_{validation,test}_epoch_end.
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != "validate" or trainer.sanity_checking:
            return  # only the final validation of the best checkpoint, not each epoch during fit
        outputs, _ = _results(pl_module, "val")
        heads = pl_module.heads_for_calibration(outputs)
        self.calibrator.fit(heads, pl_module.calibration_kind)
        self.fitted = True
        fitted = ", ".join(f"{k} = {v:.4g}" for k, v in self.calibrator.fitted().items())
        log.info(
            "calibration=%s: fitted on %d validation rows (%s)",
            self.calibrator.name,
            len(outputs[next(iter(heads))]),
            fitted,
        )
        self._report(trainer, pl_module, "val")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.fitted:
            raise RuntimeError(
                f"calibration={self.calibrator.name}: not fitted; run trainer.validate() before trainer.test"
            )
        self._report(trainer, pl_module, "test")

    def _report(self, trainer: pl.Trainer, pl_module: pl.LightningModule, split: str) -> None:
        outputs, _ = _results(pl_module, split)
        calibrated = self.calibrator.apply({k: outputs[k] for k in pl_module.calibration_heads})
        # The task's own decoding of the calibrated logits (float32, as its eval outputs are).
        after = pl_module.decode(outputs | {k: v.float() for k, v in calibrated.items()}, split)
        suffix = "_" + self.calibrator.suffix
        items = calibration_report(after.logits, after.labels, n_bins=self.n_bins)
        metrics = {f"{split}/{k}{suffix}": items[k] for k in ITEM_METRICS}
        metrics |= {f"{split}/{k}": v for k, v in level_metrics(after.levels, suffix, self.n_bins).items()}
        metrics |= {f"{split}/{k}": v for k, v in self.calibrator.fitted().items()}
        # pl_module.log is not allowed in on_*_end hooks, so both sinks are written directly.
        trainer.callback_metrics.update({k: torch.tensor(v, dtype=torch.float64) for k, v in metrics.items()})
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
            logger.save()
        if trainer.is_global_zero:
            out = {
                "calibrator": self.calibrator.name,
                "fitted": self.calibrator.fitted(),
                "levels": {name: level_items(level) for name, level in after.levels.items()},
            }
            write_compact_json(out, Path(trainer.default_root_dir) / f"calibration_{split}{suffix}.json")
        write_reliability(trainer, after.levels, split, self.n_bins, self.rounds, suffix)


def _results(pl_module: pl.LightningModule, split: str) -> tuple[dict[str, Tensor], Any]:
    """The gathered outputs and decoding a task module stored for a split; one line when there are none."""
    stored = getattr(pl_module, "eval_results", None)
    if stored is None:
        raise AttributeError(
            f"{type(pl_module).__name__}.eval_results: missing; post-hoc calibration needs a TaskModule"
        )
    if split not in stored:
        raise ValueError(
            f"calibration: the {split} set is empty; there are no logits to "
            + ("fit a calibrator on" if split == "val" else "calibrate")
        )
    return stored[split]
