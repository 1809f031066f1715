"""The trained module of a finished run: what predict, export and a distillation teacher load.

`checkpoints.py` reads and checks checkpoint files and knows no task; this module adds the one table of
task modules (a checkpoint's `task_name` → its class, never a class named in the file) and the two ways a
run's model is taken up again: as a task module in eval mode (predict, export) and as a frozen teacher for
a student of the same task (kd). The smoothing package only receives the teacher: it reads no file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from labelsmooth.run.checkpoints import CheckpointInfo, load_module, read_checkpoint, resolve_checkpoint
from labelsmooth.tasks.image import ImageModule
from labelsmooth.tasks.ner import NERModule
from labelsmooth.tasks.qa import QAModule

TASK_MODULES: dict[str, type] = {m.task_name: m for m in (NERModule, QAModule, ImageModule)}
# The config key every teacher error names.
TEACHER_KEY = "smoothing.teacher"


def load_task_module(path_or_run_dir: Any, key: str) -> tuple[nn.Module, Path, Path | None]:
    """(module in eval mode on the CPU, checkpoint file, run directory or None) for a run dir or a .ckpt.

    The module class is picked by the checkpoint's `task_name` from `TASK_MODULES`; the encoder is rebuilt
    from its spec with pretrained=False (and compile=False) and gets the checkpoint's weights.
    """
    path, run = resolve_checkpoint(path_or_run_dir, key)
    info = read_checkpoint(path, key)
    if info.task_name not in TASK_MODULES:
        known = sorted(TASK_MODULES)
        raise ValueError(f"{key}: {path} is a checkpoint of task {info.task_name!r}, expected one of {known}")
    overrides = {"pretrained": False, "compile": False}
    module = load_module(info, TASK_MODULES[info.task_name], key, "cpu", overrides)
    return module, path, run


def check_teacher(teacher: Any, module_cls: type) -> CheckpointInfo:
    """The teacher checkpoint of a student `module_cls`, checked before any data or model is built: a
    finished run (or a .ckpt kept outside one), a readable weights-only checkpoint, of the student's task."""
    path, _ = resolve_checkpoint(teacher, TEACHER_KEY)
    info = read_checkpoint(path, TEACHER_KEY)  # tensors stay on disk (mmap)
    if info.task_name != module_cls.task_name:
        what = f"is a checkpoint of task {info.task_name!r}, expected {module_cls.task_name!r}"
        raise ValueError(f"{TEACHER_KEY}: {path} {what}")
    return info


def load_teacher(info: CheckpointInfo, module_cls: type) -> nn.Module:
    """The checked teacher as `module_cls` on the CPU, in eval mode, with no parameter that trains."""
    teacher = load_module(info, module_cls, TEACHER_KEY)
    teacher.requires_grad_(False)
    return teacher
