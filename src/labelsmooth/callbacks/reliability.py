"""ReliabilityDiagram: a reliability diagram PNG of the best checkpoint's val and test predictions."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl

from labelsmooth.callbacks.media import log_image
from labelsmooth.callbacks.plots import plot_reliability
from labelsmooth.metrics.calibration import DEFAULT_BINS, confidences_and_correct

log = logging.getLogger(__name__)


class ReliabilityDiagram(pl.Callback):
    """Writes `reliability_{val,test}.png` into `trainer.default_root_dir` after `trainer.validate`/`test`."""

    def __init__(self, n_bins: int = DEFAULT_BINS) -> None:
        super().__init__()
        if n_bins < 1:
            raise ValueError(f"callbacks.reliability_diagram.n_bins={n_bins}: expected an integer >= 1")
        self.n_bins = n_bins

    # on_*_end: the module fills calibration_logits in its epoch-end hook, which Lightning calls after ours.
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "validate" and not trainer.sanity_checking:
            self._write(trainer, pl_module, "val")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(trainer, pl_module, "test")

    def _write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, split: str) -> None:
        if not trainer.is_global_zero:
            return
        stored = getattr(pl_module, "calibration_logits", {})
        if split not in stored:
            raise ValueError(
                f"callbacks.reliability_diagram: {type(pl_module).__name__} stored no '{split}' logits"
            )
        confidences, correct = confidences_and_correct(*stored[split])
        path = Path(trainer.default_root_dir) / f"reliability_{split}.png"
        plot_reliability(confidences, correct, path, self.n_bins, title=f"{split} ({len(correct)} items)")
        log_image(trainer, f"{split}/reliability_diagram", path)
        log.info("reliability diagram: wrote %s", path)
