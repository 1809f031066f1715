"""A callback tests/test_slurm.py adds to its SLURM jobs (`+callbacks.pace._target_=slurm_drills.Pace`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytorch_lightning as pl

STEPS = "steps.txt"


class Pace(pl.Callback):
    """Each training step lasts `seconds` longer (a sleep: no CPU, and the numbers of an unpaced run), and
    rank 0 appends `<SLURM_RESTART_COUNT> <global step>` to `<output dir>/steps.txt` after every step (SLURM
    sets the count from the first requeue on: `unset` before). A test can then act on a job mid-training,
    size a job against a time limit, and read which steps each allocation of a requeued job trained."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.is_global_zero:
            restarts = os.environ.get("SLURM_RESTART_COUNT", "unset")
            with (Path(trainer.default_root_dir) / STEPS).open("a") as out:
                out.write(f"{restarts} {trainer.global_step}\n")
        time.sleep(self.seconds)  # a signal that lands here is handled, and the sleep goes on (PEP 475)
