"""The training command: `labelsmooth-train …` / `python -m labelsmooth.cli.train …` = `python run.py …`.

train(cfg): check, build what the config names, fit or resume, evaluate the best checkpoint, write metrics.

The one place that calls `hydra.utils.instantiate`. Order matters: the config is checked first; then the
run folder is claimed (lock, finished result, changed settings on a resume); then the callbacks (they carry
the smoothing, whose bad values fail without any data), a distillation teacher's checkpoint and the trainer
(Lightning checks devices, precision and accelerator when it is built); then the data (read, tokenised,
checked); only then the model. A stop signal is honoured in every phase (labelsmooth.run.signals).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.environments import SLURMEnvironment
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from labelsmooth.atomic import sha256_of
from labelsmooth.callbacks import SmoothingCallback
from labelsmooth.config.checks import (
    check_config,
    check_max_length,
    check_smoothing,
    resolve_ckpt_path,
)
from labelsmooth.distributed import hydra_single_run_argv, job_environment
from labelsmooth.run.folder import locked, mark_job_folder, prepare_folder, snapshot_config
from labelsmooth.run.kernel_flags import set_kernel_flags
from labelsmooth.run.metrics_file import write_metrics
from labelsmooth.run.provenance import checkout_root, git_state, provenance
from labelsmooth.run.resume import ExactResume
from labelsmooth.run.settings import Resume, check_resume, pinned, placed_keys
from labelsmooth.run.signals import STOP, Stopped
from labelsmooth.run.trained import check_teacher, load_teacher

log = logging.getLogger(__name__)


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
    mark_job_folder(bool(cfg.get("rerun")))
    with job_environment(), STOP.installed():
        try:
            return _train(cfg)
        except Stopped as stop:
            log.error("stopped by signal %d: no metrics.json; resume with ckpt_path=last", stop.signum)
            raise
        finally:
            # A W&B run is open only if the wandb logger imported wandb: close it before the next job's run.
            if (wandb := sys.modules.get("wandb")) is not None:
                wandb.finish()
            # The next job of a multirun starts its own ranks: it needs a process group of its own.
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()


def _train(cfg: DictConfig) -> float:
    folder = Path(str(cfg.paths.output_dir))
    ckpt_path = resolve_ckpt_path(cfg)  # check_config has read it: a checkpoint of this task
    resuming = bool(ckpt_path) and bool(cfg.train)
    # Resolved: `${oc.env:…}` and other interpolations compare by what they mean, not how they are spelt.
    # Relative paths pinned: where they point from here, not how they are spelt.
    settings = pinned(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))  # plain data in last.ckpt
    resume = None
    if resuming:  # checked before the folder is touched: a refused resume leaves the result in place
        placed = placed_keys(OmegaConf.to_container(cfg, resolve=False))
        key = f"ckpt_path={cfg.ckpt_path}"
        resume = check_resume(Path(ckpt_path), folder, settings, placed, key, cfg.resume_changed)
    history = run_history(resume, git_state(checkout_root())[0])
    # The lock and the folder's files are rank 0's: the other ranks of a job run in the folder it claimed.
    if rank_zero_only.rank == 0:
        with locked(folder):
            prepare_folder(folder, resuming, cfg.rerun, live=True)
            snapshot_config(folder)
            return _run(cfg, ckpt_path, settings, history)
    return _run(cfg, ckpt_path, settings, history)


def run_history(resume: Resume | None, commit: str | None) -> dict[str, list]:
    """The commits a run trained on (each allocation's, in order) and its resumes, carried in last.ckpt and
    reported in metrics.json. A resume on another commit than the run's last says so."""
    if resume is None:
        return {"commits": [commit], "resumed_from": []}
    commits = list(resume.history.get("commits") or [])
    if commits and commits[-1] != commit:
        log.warning("resume: the run trained on commit %s so far; it goes on at %s", commits[-1], commit)
    if not commits or commits[-1] != commit:
        commits.append(commit)
    return {"commits": commits, "resumed_from": [*resume.history.get("resumed_from", []), resume.as_record()]}


def _run(cfg: DictConfig, ckpt_path: str | None, settings: dict, history: dict[str, list]) -> float:
    pl.seed_everything(cfg.seed, workers=True)
    callbacks = _instantiate_group(cfg.get("callbacks"))
    module_cls = get_class(cfg.task.module._target_)
    teachers = []
    for callback in callbacks:
        if isinstance(callback, SmoothingCallback):
            check_smoothing(callback.smoothing, module_cls)
            if callback.smoothing.teacher is not None:
                teachers.append((callback.smoothing, check_teacher(callback.smoothing.teacher, module_cls)))
        if isinstance(callback, ExactResume):
            callback.config, callback.history = settings, history
    if ckpt_path:
        log.info("%s from %s", "resuming" if cfg.train else "evaluating", ckpt_path)
    trainer = _trainer(cfg, callbacks)
    best_callback = monitored_checkpoint(trainer, cfg.task.monitor)
    set_kernel_flags(trainer)
    STOP.raise_if_requested()

    datamodule = instantiate(cfg.task.datamodule)
    check_max_length(datamodule)
    datamodule.prepare_data()
    datamodule.setup("fit")
    module = instantiate(cfg.task.module)
    for smoothing, teacher in teachers:
        smoothing.set_teacher(load_teacher(teacher, module_cls))
    if ckpt_path and cfg.train:  # the resumed run logs on in the stopped one's CSV file and W&B run
        for logger in trainer.loggers:
            if callable(continue_run := getattr(logger, "continue_run", None)):
                continue_run()
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True) | dashboard_fields(cfg))
        define_metric = getattr(getattr(logger, "experiment", None), "define_metric", None)
        if callable(define_metric):  # W&B: the run's summary shows the best epoch, not the last
            define_metric(cfg.task.monitor, summary=cfg.task.mode)
    hydra_single_run_argv(trainer)

    best = ckpt_path
    if cfg.train:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        # fast_dev_run saves no checkpoint: the weights in memory are evaluated then (a `limited` run).
        best = None if trainer.fast_dev_run else best_callback.best_model_path
    STOP.raise_if_requested()
    trainer.validate(module, datamodule=datamodule, ckpt_path=best, weights_only=True)
    metrics = _scores(module, trainer, "val")
    trainer.test(module, datamodule=datamodule, ckpt_path=best, weights_only=True)
    metrics |= _scores(module, trainer, "test")
    if cfg.optimized_metric not in metrics:
        raise KeyError(f"optimized_metric={cfg.optimized_metric}: not among the metrics {sorted(metrics)}")
    STOP.raise_if_requested()  # last: a stopped job writes no metrics.json
    if trainer.is_global_zero:
        run = provenance(str(trainer.strategy.root_device))
        run |= {"seed": cfg.seed, "world_size": trainer.world_size, "limited": _limited(trainer)}
        run |= history if cfg.train else {}
        digest = sha256_of(best) if best else ""
        checkpoint = {"best_checkpoint": best or "", "best_checkpoint_sha256": digest}
        path = write_metrics(cfg.paths.output_dir, metrics | checkpoint, run)
        log.info("metrics: %s", path)
    return metrics[cfg.optimized_metric]


def _trainer(cfg: DictConfig, callbacks: list) -> pl.Trainer:
    """The trainer, built before any data: Lightning's checks of devices, precision and accelerator come
    now, as one line naming `trainer`. On SLURM submitit (the Hydra launcher) owns requeueing: Lightning's
    own auto-requeue handlers are switched off."""
    loggers = _instantiate_group(cfg.get("logger"))
    for logger in loggers:  # a logger that would fail at its first write fails now, before any training
        if callable(check := getattr(logger, "check_writable", None)):
            check()
    plugins = list(instantiate(cfg.trainer.get("plugins") or []))
    if SLURMEnvironment.detect():
        plugins.append(SLURMEnvironment(auto_requeue=False))
    try:
        return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins)
    except InstantiationException as err:
        cause = err.__cause__
        if not isinstance(cause, MisconfigurationException | ValueError | RuntimeError | TypeError):
            raise
        lines = str(cause).strip().splitlines() or [type(cause).__name__]
        raise ValueError(f"trainer: {lines[0]}") from None


def monitored_checkpoint(trainer: pl.Trainer, monitor: str) -> ModelCheckpoint:
    """The ModelCheckpoint that keeps the best weights by `task.monitor`: what the run evaluates."""
    found = [
        c
        for c in trainer.checkpoint_callbacks
        if isinstance(c, ModelCheckpoint) and c.monitor == monitor and c.save_top_k != 0
    ]
    if len(found) != 1:
        what = "none" if not found else f"{len(found)}"
        raise ValueError(
            f"callbacks.model_checkpoint: expected one ModelCheckpoint that keeps the best weights by "
            f"task.monitor={monitor} (the run evaluates them), found {what}"
        )
    return found[0]


def _limited(trainer: pl.Trainer) -> bool:
    """Whether evaluation saw only part of the data (fast_dev_run, limit_*_batches): not a result."""
    full = (trainer.limit_val_batches, trainer.limit_test_batches) == (1.0, 1.0)
    return bool(trainer.fast_dev_run) or not full


def main() -> None:
    """Hydra's entry over the checkout's config tree (run.py is the same entry, found beside conf/)."""
    import hydra

    from labelsmooth.run.provenance import project_root

    conf = project_root() / "conf"
    if not (conf / "config.yaml").is_file():
        raise SystemExit(f"labelsmooth-train: no config tree at {conf} (run it inside the checkout)")
    hydra.main(version_base="1.3", config_path=str(conf), config_name="config")(train)()


if __name__ == "__main__":
    main()
