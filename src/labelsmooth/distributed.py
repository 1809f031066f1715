"""This process's place among DDP ranks, and DDP under Hydra.

`world()` is the one reader of (rank, world size) for the samplers, the resume state and the metrics.

The processes Lightning starts for ranks 1… run this job, not the whole sweep again.

Lightning's script launcher starts each extra rank as `python run.py <sys.argv[1:]> hydra.run.dir=<run dir>`.
Inside a multirun that replays the sweep (`-m smoothing=ls,gls` again) in the wrong folder (Lightning
#11300, Hydra #2070). Before fit, a multirun job rewrites its own argv to a single run of its own overrides
and points Hydra's run dir at its output folder, so every rank of job n is job n.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytorch_lightning as pl
import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write
from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher


def world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def hydra_single_run_argv(trainer: pl.Trainer) -> None:
    """In a Hydra multirun job about to start DDP ranks by script: argv and run dir of this job alone."""
    if not isinstance(trainer.strategy.launcher, _SubprocessScriptLauncher) or not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir


@contextmanager
def job_environment() -> Iterator[None]:
    """Give the environment back as it was after a job: Lightning leaves LOCAL_RANK, MASTER_PORT, … set in
    the process that started the ranks, and the next job of a multirun would take them as 'ranks already
    started elsewhere' and start none."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
