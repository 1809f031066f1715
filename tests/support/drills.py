"""Callbacks the tests add to a real run.py job (`+callbacks.x._target_=drills.…`) to stage a failure."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class SigtermAtStep(pl.Callback):
    """Send a real SIGTERM after training step `step`: to rank 0 (Lightning passes it on), or, with
    `every_rank`, to each rank's own process, as SLURM signals every task of a preempted job."""

    def __init__(self, step: int, every_rank: bool = False) -> None:
        self.step, self.every_rank = step, every_rank

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == self.step and (self.every_rank or trainer.is_global_zero):
            os.kill(os.getpid(), signal.SIGTERM)
