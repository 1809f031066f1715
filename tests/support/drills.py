"""Callbacks the tests add to a real run.py job (`+callbacks.x._target_=drills.…`) to stage a failure."""

from __future__ import annotations

import os
import signal
import time

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


class SigtermAtBatch(pl.Callback):
    """SIGTERM after the `batch`-th training micro-batch of the run (counted from 1 over all epochs): with
    gradient accumulation, a point inside an accumulation window, where no optimiser step has ended."""

    def __init__(self, batch: int) -> None:
        self.batch, self.seen = batch, 0

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        self.seen += 1
        if self.seen == self.batch and trainer.is_global_zero:
            os.kill(os.getpid(), signal.SIGTERM)


class SigtermInTest(pl.Callback):
    """SIGTERM to rank 0 at the end of the final test (after training), once the other ranks wait in the
    gathering of the test outputs (a second's head start), its time written to `stamp`: the drill of a
    preemption while the ranks of a job are inside an evaluation collective."""

    def __init__(self, stamp: str) -> None:
        self.stamp = stamp

    def on_test_epoch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.is_global_zero:
            time.sleep(1.0)
            with open(self.stamp, "w") as f:
                f.write(repr(time.time()))
            os.kill(os.getpid(), signal.SIGTERM)
