"""Distillation teachers: resolve `smoothing.teacher`, check the checkpoint early, load it frozen.

A teacher is a checkpoint of an earlier run of this project. Everything that can be wrong with it is
checked when the config is instantiated (before the student model is built): the run finished, the file is
a readable weights-only checkpoint of a task module. Only the task match waits for `attach`, the first
moment the student's task is known. A checkpoint is data, never code: every load is `weights_only=True`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from labelsmooth.checkpoints import CheckpointInfo, load_module, read_checkpoint, resolve_checkpoint

KEY = "smoothing.teacher"
# Written atomically and last by a run (DESIGN.md, output contract): its presence marks a finished run.
FINISHED_MARKER = "metrics.json"


class TeacherCheckpoint(NamedTuple):
    """A checked teacher checkpoint: where it is, its task, and the model spec to rebuild it with."""

    path: Path
    task_name: str
    model: dict | None  # hyper_parameters["model"] with pretrained=False, or None when it has none


def resolve_teacher(teacher: Any) -> Path:
    """The checkpoint file named by `smoothing.teacher`: a `.ckpt` file, or a finished run directory's
    checkpoints/best.ckpt (else last.ckpt). A file in a run's checkpoints/ also needs that run finished."""
    if teacher is None or (isinstance(teacher, str) and not teacher.strip()):
        raise ValueError(f"{KEY}: required for kd (a .ckpt file or a run directory); got none")
    return resolve_checkpoint(teacher, KEY, finished=_require_finished)[0]


def read_teacher(teacher: Any) -> TeacherCheckpoint:
    """Resolve `smoothing.teacher` and read its checkpoint's metadata (tensors stay on disk: mmap)."""
    info = read_checkpoint(resolve_teacher(teacher), KEY)
    return TeacherCheckpoint(info.path, info.task_name, info.model)


def load_teacher(source: TeacherCheckpoint, module_cls: type, task_name: str, device: Any) -> nn.Module:
    """The teacher as `module_cls`, frozen and in eval mode, after checking it was trained on `task_name`."""
    if source.task_name != task_name:
        what = f"is a checkpoint of task {source.task_name!r}, expected {task_name!r}"
        raise ValueError(f"{KEY}: {source.path} {what}")
    info = CheckpointInfo(source.path, source.task_name, source.model, {})
    teacher = load_module(info, module_cls, KEY, device)
    teacher.requires_grad_(False)
    return teacher


def device_of(batch: Any) -> torch.device | None:
    """The device of the first tensor in a batch (dict, list or tensor)."""
    if isinstance(batch, Tensor):
        return batch.device
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, list | tuple) else []
    for v in values:
        found = device_of(v)
        if found is not None:
            return found
    return None


def _require_finished(run: Path, key: str = KEY) -> None:
    # The teacher's own wording (its tests pin it); predict and export use outputs.finished_run.
    if not (run / FINISHED_MARKER).is_file():
        what = f"is not a finished run (no {FINISHED_MARKER}; interrupted?)"
        raise ValueError(f"{key}: {run} {what}")
