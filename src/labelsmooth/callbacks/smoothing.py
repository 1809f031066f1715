"""SmoothingCallback: the one seam where a task module meets the smoothing (inject, schedule, log)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl

from labelsmooth.smoothing.base import Smoothing


class SmoothingCallback(pl.Callback):
    """Hands the smoothing to the module, advances its schedule each step and logs `smoothing/*`."""

    def __init__(self, smoothing: Smoothing) -> None:
        if not isinstance(smoothing, Smoothing):
            raise ValueError(f"callbacks.smoothing.smoothing={smoothing!r}: expected a Smoothing instance")
        self.smoothing = smoothing

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        pl_module.smoothing = self.smoothing

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.smoothing.step(trainer.global_step)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if outputs is None:  # Lightning lets training_step return None to skip a batch
            return
        if not isinstance(outputs, Mapping) or "stats" not in outputs:
            raise ValueError(
                f"{type(pl_module).__name__}.training_step returned {type(outputs).__name__}; "
                "expected a dict with 'loss', 'nll' and 'stats' for SmoothingCallback"
            )
        values = {**outputs["stats"], **self.smoothing.current()}
        for name, value in values.items():
            pl_module.log(f"smoothing/{name}", value, on_step=True, on_epoch=False)
