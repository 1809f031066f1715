"""Checks of a job's config, run before any data is read or model loaded: one line naming the key each."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class
from omegaconf import DictConfig

from labelsmooth.config.keys import check_paths, check_qa_decoding, check_trainer, is_number
from labelsmooth.config.keys import integer as _integer
from labelsmooth.run.checkpoints import read_checkpoint
from labelsmooth.tasks.base import CALIBRATION_METRICS

# The top-level keys of conf/config.yaml and its groups; anything else (`+ckpt_pth=…`) is a typo.
TOP_LEVEL = [
    "seed",
    "train",
    "ckpt_path",
    "rerun",
    "resume_changed",
    "optimized_metric",
    "task",
    "data",
    "model",
    "trainer",
    "logger",
    "callbacks",
    "smoothing",
    "calibration",
    "paths",
    "hydra",
    "experiment",
    "debug",
    "hparams_search",
]
SPLITS = ("val", "test")
SEED_MAX = 2**32 - 1
# One small batch per head kind: enough for a smoothing to build its targets (or refuse the kind).
_DUMMY = {
    "classes": (torch.zeros(1, 3), torch.zeros(1, dtype=torch.long), None),
    "pointer": (torch.zeros(1, 4), torch.zeros(1, dtype=torch.long), torch.ones(1, 4, dtype=torch.bool)),
    "tags": (torch.zeros(1, 2, 3), torch.zeros(1, 2, dtype=torch.long), None),
}

log = logging.getLogger(__name__)


def check_keys(cfg: DictConfig) -> None:
    """No unknown top-level key from the command line (Hydra accepts `+ckpt_pth=…` without a word).

    Recipes (`experiment=…`) may declare keys of their own; what a user adds with `+` must be a known one.
    """
    if not HydraConfig.initialized():
        return
    for override in HydraConfig.get().overrides.task:
        key = override.lstrip("+~").split("=", 1)[0]
        if override.startswith("+") and "." not in key and "/" not in key and key not in TOP_LEVEL:
            close = difflib.get_close_matches(key, TOP_LEVEL, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            known = ", ".join(TOP_LEVEL)
            raise ValueError(f"{key}: unknown top-level config key{hint}; expected one of {known}")


def metric_names(cfg: DictConfig) -> list[str]:
    """Every metric a job reports per split: the task's, the calibration ones, and its callbacks'."""
    module_cls = get_class(cfg.task.module._target_)
    names = [
        *module_cls.metric_names(cfg.task.module),
        *CALIBRATION_METRICS,
        *module_cls.level_metric_names(),
    ]
    for node in (cfg.get("callbacks") or {}).values():
        if isinstance(node, DictConfig) and "_target_" in node:
            names += list(getattr(get_class(node._target_), "metric_names", ()))
            named = getattr(get_class(node._target_), "names_for", None)
            if named is not None:  # names that depend on the callback's settings and the task
                names += named(node, module_cls)
    return names


def check_config(cfg: DictConfig) -> None:
    """Everything the config alone can tell is wrong, before any file is read or model built."""
    check_keys(cfg)
    check_paths(cfg)
    # Lightning would replace a seed outside numpy's range by 0 with a mere warning.
    _integer("seed", cfg.get("seed"), 0, SEED_MAX)
    for key in ("batch_size", "eval_batch_size"):
        _integer(f"task.datamodule.{key}", cfg.task.datamodule.get(key), 1)
    check_trainer(cfg.trainer, train=bool(cfg.train))
    check_qa_decoding(cfg.task.module)
    if not cfg.train and not cfg.get("ckpt_path"):
        raise ValueError("ckpt_path: train=false evaluates a checkpoint; give ckpt_path=<.ckpt file>")
    check_checkpoint_path(cfg)
    _check_optimizer(cfg.task.module.get("optimizer"))
    dropout = cfg.task.module.get("dropout")
    if dropout is not None and not (isinstance(dropout, int | float) and 0.0 <= dropout < 1.0):
        raise ValueError(f"task.module.dropout={dropout!r}: expected a probability in [0, 1)")
    _check_calibrator(cfg)
    names = metric_names(cfg)
    listed = ", ".join(f"val/{n}" for n in names)
    if cfg.optimized_metric not in [f"{split}/{n}" for split in SPLITS for n in names]:
        raise ValueError(f"optimized_metric={cfg.optimized_metric}: expected val/… or test/… of: {listed}")
    if cfg.task.monitor not in [f"val/{n}" for n in names]:
        raise ValueError(f"task.monitor={cfg.task.monitor}: expected one of {listed}")
    if cfg.task.mode not in ("min", "max"):
        raise ValueError(f"task.mode={cfg.task.mode!r}: expected 'min' or 'max'")


def _check_calibrator(cfg: DictConfig) -> None:
    """A post-hoc calibrator calibrates the task's kind of heads (QA's pointers: temperature or vector)."""
    node = (cfg.get("callbacks") or {}).get("calibration")
    if isinstance(node, DictConfig) and "calibrator" in node:
        kind = get_class(cfg.task.module._target_).calibration_kind
        get_class(node.calibrator._target_).check_kind(kind)


def check_smoothing(smoothing: Any, module_cls: type) -> None:
    """The smoothing builds targets for every head kind of the task (GLS refuses unordered classes)."""
    for kind in module_cls.head_kinds:
        logits, target, mask = _DUMMY[kind]
        try:
            smoothing.targets(logits, target, mask, kind)
        except ValueError as e:
            raise ValueError(f"smoothing: {e} (task {module_cls.task_name} has {kind} heads)") from None


def check_max_length(datamodule: Any) -> None:
    """An encoder's inputs fit its position embeddings."""
    max_length, model = getattr(datamodule, "max_length", None), getattr(datamodule, "model", None)
    if max_length is None or model is None:
        return
    _integer("task.datamodule.max_length", max_length, 8)
    positions = model.max_positions()
    if positions is not None and max_length > positions:
        raise ValueError(
            f"task.datamodule.max_length={max_length}: the encoder {model.name_or_path} has only "
            f"{positions} positions; expected max_length <= {positions}"
        )


def _check_optimizer(node: Any) -> None:
    """The optimizer's learning rate and weight decay (torch names neither key when it refuses them)."""
    if not isinstance(node, Mapping):
        return
    for key, low, strict in (("lr", 0.0, True), ("weight_decay", 0.0, False)):
        if key not in node:
            continue
        value = node[key]
        number = is_number(value)
        if not number or value < low or (strict and value == low):
            bound = "> 0" if strict else ">= 0"
            raise ValueError(f"task.module.optimizer.{key}={value!r}: expected a finite number {bound}")


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """`ckpt_path`: null, `last` (this job's own checkpoints/last.ckpt) or a file; a requeued SLURM job
    (SLURM_RESTART_COUNT > 0) resumes from its own last.ckpt by itself, and starts afresh without one."""
    value = cfg.get("ckpt_path")
    if value is None:
        if int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) == 0:
            return None
        own_last = _own_last(cfg)
        if own_last.is_file():
            return str(own_last)
        log.warning(
            "SLURM restart %s: no %s (the earlier allocation saved none): the job starts from the beginning",
            os.environ["SLURM_RESTART_COUNT"],
            own_last,
        )
        return None
    path = _own_last(cfg) if str(value) == "last" else Path(str(value)).expanduser()
    if not path.is_file():
        raise ValueError(f"ckpt_path={value}: no checkpoint file at {path}")
    return str(path)


def _own_last(cfg: DictConfig) -> Path:
    """This job's checkpoints/last.ckpt (its output folder resolves only inside a Hydra job)."""
    return Path(str(cfg.paths.output_dir)) / "checkpoints" / "last.ckpt"


def check_checkpoint_path(cfg: DictConfig) -> None:
    """The checkpoint `ckpt_path` resolves to: a readable weights-only checkpoint of this task's module."""
    path = resolve_ckpt_path(cfg)
    if path is None:
        return
    key = f"ckpt_path={cfg.get('ckpt_path')}"
    task = read_checkpoint(Path(path), key).task_name  # weights-only; a bad file: one line
    if task != cfg.task.name:
        raise ValueError(f"{key}: {path} is a checkpoint of task {task!r}, expected {cfg.task.name!r}")
