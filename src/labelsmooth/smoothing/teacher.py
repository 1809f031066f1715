"""Distillation teachers: resolve `smoothing.teacher` to a checkpoint file and load it frozen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


def resolve_teacher(teacher: Any) -> Path:
    """A `.ckpt` file, or a run directory's checkpoints/best.ckpt (else last.ckpt)."""
    if teacher is None or (isinstance(teacher, str) and not teacher.strip()):
        raise ValueError("smoothing.teacher: required for kd (a .ckpt file or a run directory); got none")
    path = Path(str(teacher)).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise ValueError(f"smoothing.teacher: no checkpoint or run directory at {path}")
    for name in ("best.ckpt", "last.ckpt"):
        if (path / "checkpoints" / name).is_file():
            return path / "checkpoints" / name
    raise ValueError(f"smoothing.teacher: run directory {path} has no checkpoints/best.ckpt or last.ckpt")


def load_teacher(path: Path, module_cls: type, task_name: str, device: Any) -> nn.Module:
    """The checkpoint as `module_cls`, frozen, in eval mode, after checking it was trained on `task_name`."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    found = ckpt.get("task_name") if isinstance(ckpt, dict) else None
    if found != task_name:
        what = f"is a checkpoint of task {found!r}, expected {task_name!r}"
        raise ValueError(f"smoothing.teacher: {path} {what}")
    # Our own checkpoint: its hyper-parameters hold config objects (model specs), so not weights-only.
    teacher = module_cls.load_from_checkpoint(path, map_location=device, weights_only=False, optimizer=None)
    teacher.eval()
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
