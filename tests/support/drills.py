"""Callbacks the tests add to a real run.py job (`+callbacks.x._target_=drills.…`) to stage a failure."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class SigtermAtStep(pl.Callback):
    """Send this process a real SIGTERM after training step `step` (what SLURM does on preemption)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == self.step and trainer.is_global_zero:
            os.kill(os.getpid(), signal.SIGTERM)
