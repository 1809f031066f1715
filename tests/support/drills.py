"""Callbacks the tests add to a real run.py job (`+callbacks.x._target_=drills.…`) to stage a failure."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class SigtermAtStep(pl.Callback):
    """Send a real signal (SIGTERM unless `signum` says otherwise) after training step `step`: to rank 0
    (Lightning passes it on), or, with `every_rank`, to each rank's own process, as SLURM signals every task
    of a preempted job."""

    def __init__(self, step: int, every_rank: bool = False, signum: int = signal.SIGTERM) -> None:
        self.step, self.every_rank, self.signum = step, every_rank, signum

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == self.step and (self.every_rank or trainer.is_global_zero):
            os.kill(os.getpid(), self.signum)


class SigkillAtStep(pl.Callback):
    """SIGKILL (no handler runs, nothing is saved) once training step `step` has finished: at the start of
    the next batch, so any checkpoint saved at that step's end is complete."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
