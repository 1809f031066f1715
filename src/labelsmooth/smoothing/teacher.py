"""Distillation teachers: resolve `smoothing.teacher`, check the checkpoint early, load it frozen.

A teacher is a checkpoint of an earlier run of this project. Everything that can be wrong with it is
checked when the config is instantiated (before the student model is built): the run finished, the file is
a readable weights-only checkpoint of a task module. Only the task match waits for `attach`, the first
moment the student's task is known. A checkpoint is data, never code: every load is `weights_only=True`.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

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
        raise ValueError("smoothing.teacher: required for kd (a .ckpt file or a run directory); got none")
    path = Path(str(teacher)).expanduser()
    if path.is_file():
        if path.parent.name == "checkpoints":  # <run>/checkpoints/x.ckpt: the run must have finished
            _require_finished(path.parent.parent)
        return path
    if not path.is_dir():
        raise ValueError(f"smoothing.teacher: no checkpoint or run directory at {path}")
    for name in ("best.ckpt", "last.ckpt"):
        if (path / "checkpoints" / name).is_file():
            _require_finished(path)
            return path / "checkpoints" / name
    raise ValueError(f"smoothing.teacher: run directory {path} has no checkpoints/best.ckpt or last.ckpt")


def read_teacher(teacher: Any) -> TeacherCheckpoint:
    """Resolve `smoothing.teacher` and read its checkpoint's metadata (tensors stay on disk: mmap)."""
    path = resolve_teacher(teacher)
    ckpt = _load(path)
    for key in ("state_dict", "task_name"):
        if not isinstance(ckpt, Mapping) or key not in ckpt:
            what = f"is not a task checkpoint of this project (no {key!r})"
            raise ValueError(f"smoothing.teacher: {path} {what}")
    hparams = ckpt.get("hyper_parameters")
    model = hparams.get("model") if isinstance(hparams, Mapping) else None
    if isinstance(model, Mapping):
        model = dict(model)
        if "pretrained" in model:  # the state_dict overwrites pretrained weights: never fetch or read them
            model["pretrained"] = False
    else:
        model = None
    return TeacherCheckpoint(path, str(ckpt["task_name"]), model)


def load_teacher(source: TeacherCheckpoint, module_cls: type, task_name: str, device: Any) -> nn.Module:
    """The teacher as `module_cls`, frozen and in eval mode, after checking it was trained on `task_name`."""
    if source.task_name != task_name:
        what = f"is a checkpoint of task {source.task_name!r}, expected {task_name!r}"
        raise ValueError(f"smoothing.teacher: {source.path} {what}")
    overrides = {} if source.model is None else {"model": source.model}
    teacher = module_cls.load_from_checkpoint(
        source.path, map_location=device, weights_only=True, optimizer=None, **overrides
    )
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


def _require_finished(run: Path) -> None:
    if not (run / FINISHED_MARKER).is_file():
        what = f"is not a finished run (no {FINISHED_MARKER}; interrupted?)"
        raise ValueError(f"smoothing.teacher: {run} {what}")


def _load(path: Path) -> Any:
    """torch.load, weights-only (a pickle that asks for code is refused unrun); unreadable -> one line."""
    reason = "empty file"
    if path.stat().st_size > 0:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        # What torch raises for a truncated, corrupt or foreign file, or a pickle that wants a global.
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as err:
            reason = _short_reason(err)
    # Raised outside the handler: torch's long message (which advises an unsafe full load) is not chained.
    raise ValueError(f"smoothing.teacher: {path} is not a readable checkpoint ({reason})")


def _short_reason(err: Exception) -> str:
    """One short phrase for torch's long, multi-line load errors."""
    text = re.sub(r"^\[enforce fail at [^\]]*\][\s.]*", "", str(err))  # c10's source location: noise
    if found := re.search(r"GLOBAL ([\w.]+)", text):
        return f"it asks for the global {found.group(1)}, which weights-only loading refuses"
    if "mmap can only be used" in text:  # every torch.save since 1.6 writes the zip format
        return "not a torch zip checkpoint"
    if isinstance(err, FileNotFoundError | PermissionError):
        return err.strerror or type(err).__name__
    # A cut file fails in the zip reader (OSError "Invalid argument"), a damaged one in PytorchStreamReader.
    detail = err.strerror if isinstance(err, OSError) and err.strerror else text.split(". ")[0]
    return f"truncated or corrupt: {(detail.splitlines() or [type(err).__name__])[0][:120]}"
