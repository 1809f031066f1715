"""ExactResume: SIGTERM saves `last.ckpt` at the current step, and a resumed run continues bit-exactly.

Lightning restores the model, optimiser, scheduler and loop counters from a checkpoint. Two things decide
what comes next and are not in it by default:
- the RNG states (dropout; anything a task draws): saved with every checkpoint this callback sees, and put
  back right before the first training batch after a resume, so nothing between restore and that batch
  can consume them;
- the data order: EpochBatchSampler orders each epoch by (seed, epoch) alone, and `skip` leaves out the
  batches of the interrupted epoch that were already trained on.
Under DDP every rank was seeded alike and draws alike, so rank 0's states are restored on every rank.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


def capture_rng() -> dict[str, Any]:
    """Every RNG state as plain data (tensors, ints, tuples), so checkpoints load with weights_only=True."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back the states of `capture_rng`."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ExactResume(pl.Callback):
    """Saves `<dirpath>/last.ckpt` on SIGTERM during fit; restores RNG and data position on resume."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self._restored: dict[str, Any] | None = None

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def state_dict(self) -> dict[str, Any]:
        return {"rng": capture_rng()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict["rng"]

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After the restore and before the first batch is fetched (Lightning calls no on_train_epoch_start
        # for the epoch it resumes inside).
        if self._restored is None:
            return
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        if not 0 < done < trainer.num_training_batches:
            return  # resumed at an epoch boundary: the next epoch starts from its first batch anyway
        sampler = getattr(trainer.train_dataloader, "batch_sampler", None)
        if not callable(getattr(sampler, "skip", None)):
            raise RuntimeError(
                f"ckpt_path: the checkpoint stopped after batch {done} of epoch {trainer.current_epoch}, "
                "and the training loader cannot skip batches (expected an EpochBatchSampler)"
            )
        sampler.skip(done)
        log.info("resume: epoch %d continues after its first %d batches", trainer.current_epoch, done)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._restored is not None:
            restore_rng(self._restored)
            self._restored = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, SIGTERMException) or trainer.state.fn != "fit":
            return
        # Lightning raises this after the batch in flight finished: the state is that of a whole step.
        trainer.save_checkpoint(self.last_path)
        log.warning(
            "SIGTERM: saved %s at epoch %d, step %d; resume with ckpt_path=last",
            self.last_path,
            trainer.current_epoch,
            trainer.global_step,
        )
