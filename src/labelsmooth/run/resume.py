"""ExactResume: the one writer of `last.ckpt`, the full training state, and what a resume needs beyond it.

last.ckpt (model, optimiser, scheduler, loop position, RNG streams, the data loader's position) is saved
- at the end of every training epoch, after its validation (so the best-checkpoint state is in it);
- every `every_n_steps` optimiser steps and every `every_n_minutes` of training (at a step's end), so a
  crash, an OOM kill, a lost node or SIGKILL loses at most that much. With gradient accumulation a step
  ends after its last micro-batch: never inside a window, whose partial gradients no checkpoint holds;
- on a stop request (SIGTERM, Ctrl-C, the time-limit signal; see labelsmooth.run.signals), at the next step's
  end (or the epoch's end), then the job stops (exit 128 + signal; a time limit is handed on to submitit,
  which requeues).
Every save goes through the trainer's AtomicCheckpointIO: a kill or a full disk mid-write leaves the
previous last.ckpt. Saves happen only at a step's end or an epoch's end, the two points Lightning restarts
from exactly (its loop progress says which).

Two things decide what comes next after a resume and are not in Lightning's state by default:
- the RNG states (dropout): saved with every checkpoint, put back right before the first training batch
  after a resume, so nothing between the restore and that batch can consume them;
- the data order: EpochBatchSampler orders each epoch by (seed, epoch) alone, and the training loader's
  state (batches taken this epoch, batching.ResumableLoader) makes a resumed epoch skip what it trained on.
Under DDP every rank keeps its own RNG states (their batches differ in shape, so dropout draws differ):
rank 0's are in the checkpoint, the others' in `<dirpath>/rng/rank<r>_step<s>.pt`.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from pytorch_lightning.trainer.states import TrainerFn

from labelsmooth.atomic import atomic_file
from labelsmooth.distributed import world
from labelsmooth.run.signals import STOP

log = logging.getLogger(__name__)

LAST = "last.ckpt"


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


def prune_rank_files(folder: Path, rank: int, keep: int = 2) -> None:
    """Drop all but the `keep` newest RNG files of `rank`. Two, not one: the newest is for the checkpoint
    rank 0 is about to write, the one before it for the last.ckpt on disk until then (a kill between the two
    writes must still find its rank file)."""
    files = sorted(folder.glob(f"rank{rank}_step*.pt"), key=lambda p: int(p.stem.rpartition("step")[2]))
    for old in files[:-keep]:
        old.unlink(missing_ok=True)


def step_ended(trainer: pl.Trainer, batch_idx: int) -> bool:
    """Did an optimiser step just finish with batch `batch_idx`? Lightning steps after every
    `accumulate_grad_batches`-th batch of an epoch and after its last one."""
    accumulate = trainer.accumulate_grad_batches
    return (batch_idx + 1) % accumulate == 0 or batch_idx + 1 >= trainer.num_training_batches


class ExactResume(Checkpoint):
    """Saves `<dirpath>/last.ckpt` at epoch ends, periodically and on a stop request; restores RNG states.

    A `Checkpoint` callback, so Lightning runs its epoch-end hook after the other callbacks and after the
    ModelCheckpoint listed before it (which saves best.ckpt there): last.ckpt holds that epoch's best state.
    """

    def __init__(self, dirpath: str, every_n_steps: int | None, every_n_minutes: float | None) -> None:
        for key, value in (("every_n_steps", every_n_steps), ("every_n_minutes", every_n_minutes)):
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ValueError(f"callbacks.exact_resume.{key}={value!r}: expected a number > 0, or null")
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps
        self.every_n_minutes = every_n_minutes
        # The resolved run config (set by cli/train.py): saved with each checkpoint, compared on a resume.
        self.config: dict[str, Any] | None = None
        # The run's history (set by cli/train.py): the commits it trained on, its resumes; metrics.json's.
        self.history: dict[str, list] = {}
        self._restored: dict[str, Any] | None = None
        self._loader_states: list[dict] = []
        self._stop_next = False
        self._saved_at = time.monotonic()

    @property
    def last_path(self) -> Path:
        return self.dirpath / LAST

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer  # state_dict() gets no trainer, but needs the step

    def _rank_file(self, rank: int, step: int) -> Path:
        return self.dirpath / "rng" / f"rank{rank}_step{step}.pt"

    def state_dict(self) -> dict[str, Any]:
        # Called on every rank (Lightning dumps a checkpoint on all, rank 0 writes it). Rank 0's states go
        # into the checkpoint; every other rank writes its own beside it, named by the step. No collective.
        state, (rank, size) = capture_rng(), world()
        step = self._trainer.global_step
        if rank > 0:
            out = self._rank_file(rank, step)
            with atomic_file(out) as f:
                torch.save(state, f)
            prune_rank_files(out.parent, rank)
        return {
            "rng": state,
            "world_size": size,
            "step": step,
            "config": self.config,
            "history": self.history,
        }

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

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # The training loader's position. Lightning would hand it to the loader itself, but only if the loader
        # is first built after the restore; configure_optimizers builds it earlier (estimated_stepping_batches
        # for the LR schedule), so Lightning drops it. Given back in on_train_start instead.
        self._loader_states = checkpoint["loops"]["fit_loop"]["state_dict"].get("combined_loader", [])

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._loader_states:
            loader = trainer.train_dataloader
            if not callable(getattr(loader, "load_state_dict", None)) or len(self._loader_states) != 1:
                raise RuntimeError("ckpt_path: the checkpoint's loader state does not fit this run's loader")
            loader.load_state_dict(self._loader_states[0])  # read when the first batch is drawn
            self._loader_states = []
        # Lightning installs its own SIGTERM handler just before this hook; it broadcasts from inside the
        # handler, a collective at whatever point the signal lands (it deadlocked 2 of 3 two-rank drills
        # here). The job's handler goes back, deferred: stops happen at step ends (below).
        STOP.reinstall()
        STOP.deferred = True
        self._saved_at = time.monotonic()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            self._eval_stops(trainer)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._eval_stops(trainer)

    def _eval_stops(self, trainer: pl.Trainer) -> None:
        """The final validate / test: Lightning put its SIGTERM handler back for them, which broadcasts from
        inside the handler (a deadlock when the signal lands in an evaluation collective). Ours again, not
        deferred: a stop is immediate, and rank 0 passes it to the ranks it started, so none hangs."""
        STOP.reinstall()
        launcher = trainer.strategy.launcher
        STOP.forward = launcher.kill if isinstance(launcher, _SubprocessScriptLauncher) else None

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._stop_next:  # saved at the last step's end; stopping here lets that step's log row be written
            STOP.stop(trainer.is_global_zero)
        if self._restored is not None:  # the first batch after a resume: the streams of the saved step
            restore_rng(self._restored)
            self._restored = None

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx + 1 >= trainer.num_training_batches:
            return  # the epoch's last step: on_train_epoch_end saves, after this epoch's validation
        if not step_ended(trainer, batch_idx):
            # Inside a gradient-accumulation window `.grad` holds part of a step, which no checkpoint
            # keeps: a save here would resume with fewer micro-batches summed. Saves and stops wait for the
            # window's optimiser step (the same batch on every rank, so the collective below lines up).
            return
        stop, due = self._agree(trainer, pl_module)
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            due = True
        if stop or due:
            self._save(trainer, "stop request" if stop else "periodic")
        self._stop_next = stop

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        stop, _ = self._agree(trainer, pl_module)
        self._save(trainer, "stop request" if stop else "epoch end")
        if stop:
            STOP.stop(trainer.is_global_zero)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        STOP.deferred = False
        self._stop_next = False  # evaluation after training: a signal stops the job at once

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        STOP.deferred = False
        self._stop_next = False

    def _agree(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[bool, bool]:
        """(a stop was requested on any rank, rank 0's clock says a periodic save is due): the same on every
        rank, so all save and stop after the same step. One process decides alone: no tensor, no sync."""
        minutes = self.every_n_minutes
        due = bool(minutes) and time.monotonic() - self._saved_at >= 60 * minutes and trainer.is_global_zero
        stop = STOP.signum is not None
        if trainer.world_size > 1:
            flags = torch.tensor([int(stop), int(due)], device=pl_module.device)
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
            stop, due = bool(flags[0].item()), bool(flags[1].item())
        return stop, due

    def _save(self, trainer: pl.Trainer, why: str) -> None:
        if trainer.fast_dev_run:  # a smoke run keeps no checkpoint (as Lightning's ModelCheckpoint)
            return
        trainer.save_checkpoint(self.last_path)
        self._saved_at = time.monotonic()
        epoch, step = trainer.current_epoch, trainer.global_step
        log.info("saved %s (%s): epoch %d, step %d", self.last_path, why, epoch, step)
