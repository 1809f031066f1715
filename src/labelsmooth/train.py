"""train(cfg): check, build what the config names, fit or resume, evaluate the best checkpoint, write metrics.

The one place that calls `hydra.utils.instantiate`. Order matters: the config is checked first, then the
callbacks (they carry the smoothing, whose bad values fail without any data), then the data (read,
tokenised, checked), and only then the model.
"""

from __future__ import annotations

import logging
import signal
import sys

import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import SIGTERMException

from labelsmooth.checks import (
    check_config,
    check_max_length,
    check_smoothing,
    claim_job_folder,
    resolve_ckpt_path,
)
from labelsmooth.distributed import hydra_single_run_argv, job_environment
from labelsmooth.outputs import provenance, write_metrics
from labelsmooth.smoothing import SmoothingCallback

log = logging.getLogger(__name__)

# Exit status of a preempted job: what a process killed by SIGTERM reports (128 + 15), so launchers and
# SLURM see an interrupted job, never a finished one.
PREEMPTED = 143


def _instantiate_group(group: DictConfig | None) -> list:
    """Instantiate every entry of a dict-of-configs group (callbacks, loggers) that has a `_target_`."""
    if not group:
        return []
    return [
        instantiate(node) for node in group.values() if isinstance(node, DictConfig) and "_target_" in node
    ]


def dashboard_fields(cfg: DictConfig) -> dict:
    """Plain top-level fields W&B groups and plots by: the smoothing's name and its scalar parameters."""
    name = cfg.smoothing._target_.rsplit(".", 1)[-1]
    params = {k: v for k, v in cfg.smoothing.items() if k != "_target_" and isinstance(v, int | float | str)}
    return {"smoothing_name": name, **{f"smoothing_{k}": v for k, v in params.items()}}


def _scores(module: pl.LightningModule, trainer: pl.Trainer, split: str) -> dict[str, float]:
    """The split's metrics: the module's exact values, and what callbacks added (temperature scaling)."""
    exact = {f"{split}/{k}": v for k, v in module.split_metrics.get(split, {}).items()}
    added = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(f"{split}/")}
    return dict(sorted((added | exact).items()))


def train(cfg: DictConfig) -> float:
    """Run one job and return `cfg.optimized_metric` (for Hydra sweepers); always closes the W&B run."""
    check_config(cfg)
    claim_job_folder()
    with job_environment():
        return _train(cfg)


class _Sigterm:
    """Notes a SIGTERM wherever it lands. Lightning turns one into a stop only inside its loops, and forgets
    one that arrives after the last training batch or between its calls; the job checks this flag too."""

    received = False

    @classmethod
    def note(cls, signum: int, frame: object) -> None:
        cls.received = True

    @classmethod
    def stop_if_received(cls) -> None:
        if cls.received:
            raise SIGTERMException


def _train(cfg: DictConfig) -> float:
    _Sigterm.received = False
    # Kept by Lightning: it calls the handler it finds beside its own while it trains or evaluates.
    previous = signal.signal(signal.SIGTERM, _Sigterm.note)
    try:
        pl.seed_everything(cfg.seed, workers=True)
        callbacks = _instantiate_group(cfg.get("callbacks"))
        module_cls = get_class(cfg.task.module._target_)
        for callback in callbacks:
            if isinstance(callback, SmoothingCallback):
                check_smoothing(callback.smoothing, module_cls)
        ckpt_path = resolve_ckpt_path(cfg)  # check_config has read it: a checkpoint of this task
        if ckpt_path:
            log.info("%s from %s", "resuming" if cfg.train else "evaluating", ckpt_path)
        datamodule = instantiate(cfg.task.datamodule)
        check_max_length(datamodule)
        datamodule.prepare_data()
        datamodule.setup("fit")
        loggers = _instantiate_group(cfg.get("logger"))
        module = instantiate(cfg.task.module)
        trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
        for logger in trainer.loggers:
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True) | dashboard_fields(cfg))
            define_metric = getattr(getattr(logger, "experiment", None), "define_metric", None)
            if callable(define_metric):  # W&B: the run's summary shows the best epoch, not the last
                define_metric(cfg.task.monitor, summary=cfg.task.mode)
        hydra_single_run_argv(trainer)
        if trainer.strategy.root_device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 for the float32 matmuls left under bf16-mixed

        best = ckpt_path
        if cfg.train:
            _Sigterm.stop_if_received()
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
            saved = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            # fast_dev_run saves no checkpoint: the weights in memory are evaluated then.
            best = saved or None
        _Sigterm.stop_if_received()
        trainer.validate(module, datamodule=datamodule, ckpt_path=best, weights_only=True)
        metrics = _scores(module, trainer, "val")
        _Sigterm.stop_if_received()
        trainer.test(module, datamodule=datamodule, ckpt_path=best, weights_only=True)
        metrics |= _scores(module, trainer, "test")
        if cfg.optimized_metric not in metrics:
            raise KeyError(
                f"optimized_metric={cfg.optimized_metric}: not among the metrics {sorted(metrics)}"
            )
        _Sigterm.stop_if_received()  # last: a preempted job writes no metrics.json
        if trainer.is_global_zero:
            run = provenance(str(trainer.strategy.root_device))
            run |= {"seed": cfg.seed, "world_size": trainer.world_size, "limited": _limited(trainer)}
            path = write_metrics(cfg.paths.output_dir, metrics | {"best_checkpoint": best or ""}, run)
            log.info("metrics: %s", path)
        return metrics[cfg.optimized_metric]
    except SIGTERMException:
        log.error("preempted (SIGTERM): no metrics.json; resume with ckpt_path=last")
        raise SystemExit(PREEMPTED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        # A W&B run is open only if the wandb logger imported wandb: close it before the next job's run.
        if (wandb := sys.modules.get("wandb")) is not None:
            wandb.finish()
        # The next job of a multirun starts its own ranks: it needs a process group of its own.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _limited(trainer: pl.Trainer) -> bool:
    """Whether evaluation saw only part of the data (fast_dev_run, limit_*_batches): not a result."""
    full = (trainer.limit_val_batches, trainer.limit_test_batches) == (1.0, 1.0)
    return bool(trainer.fast_dev_run) or not full
