"""ExactResume: SIGTERM saves `last.ckpt` at the current step, and a resumed run continues bit-exactly.

Lightning restores the model, optimiser, scheduler and loop counters from a checkpoint. Two things decide
what comes next and are not in it by default:
- the RNG states (dropout; anything a task draws): saved with every checkpoint this callback sees, and put
  back right before the first training batch after a resume, so nothing between restore and that batch
  can consume them;
- the data order: EpochBatchSampler orders each epoch by (seed, epoch) alone, and `skip` leaves out the
  batches of the interrupted epoch that were already trained on.
Under DDP every rank keeps its own states: ranks are seeded alike, but their batches differ in shape, so
dropout draws different amounts on each and the streams part. Rank 0's states are in the checkpoint, the
others' in `<dirpath>/rng/rank<r>_step<s>.pt`; resuming with the same number of ranks gives each its own.
"""

from __future__ import annotations

import logging
import random
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from labelsmooth.batching import world

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

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer  # state_dict() gets no trainer, but needs the step
        self._sigterm = False
        self._job_handler = signal.getsignal(signal.SIGTERM)  # the job's own (train.py notes a SIGTERM)

    def _note_sigterm(self, signum: int, frame: Any) -> None:
        self._sigterm = True
        if callable(self._job_handler):
            self._job_handler(signum, frame)

    def _rank_file(self, rank: int, step: int) -> Path:
        return self.dirpath / "rng" / f"rank{rank}_step{step}.pt"

    def state_dict(self) -> dict[str, Any]:
        # Called on every rank (Lightning dumps a checkpoint on all, rank 0 writes it). Rank 0's states go
        # into the checkpoint; every other rank writes its own beside it, named by the step. No collective:
        # on SIGTERM the ranks do not reach this point in step with each other.
        state, (rank, size) = capture_rng(), world()
        step = self._trainer.global_step
        if rank > 0:
            out = self._rank_file(rank, step)
            out.parent.mkdir(parents=True, exist_ok=True)
            torch.save(state, tmp := out.with_suffix(".tmp"))
            tmp.replace(out)
            for old in out.parent.glob(f"rank{rank}_step*.pt"):  # only the newest full checkpoint uses them
                if old != out:
                    old.unlink()
        return {"rng": state, "world_size": size, "step": step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        rank, size = world()
        saved_size, step = state_dict.get("world_size", 1), state_dict.get("step")
        own = None if rank == 0 else self._rank_file(rank, step)
        if saved_size == size and (own is None or own.is_file()):
            self._restored = state_dict["rng"] if own is None else torch.load(own, weights_only=True)
            return
        self._restored = state_dict["rng"]
        missing = f"; no {own}" if own is not None and not own.is_file() else ""
        log.warning(
            "resume: rank %d of %d takes rank 0's RNG states (the checkpoint has %d rank(s)%s): the run goes "
            "on, but not bit for bit as the uninterrupted one",
            *(rank, size, saved_size, missing),
        )

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning's SIGTERM handler, set just before this hook, broadcasts from inside the handler and kills
        # the other ranks: a collective at whatever point the signal lands, which deadlocked 2 of 3 two-rank
        # drills here. Ours only notes it; the ranks agree to stop at the start of a batch (below).
        signal.signal(signal.SIGTERM, self._note_sigterm)
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
        # Every rank asks at the same point whether any rank got SIGTERM, so all stop after the same step;
        # Lightning then calls on_exception (below) on each, with the previous batch counted as completed.
        # One process reads its flag alone: no tensor, no device sync in the training loop.
        stop = self._sigterm
        if trainer.world_size > 1:
            flag = torch.tensor([int(stop)], device=pl_module.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            stop = bool(flag.item())
        if stop:
            raise SIGTERMException
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
