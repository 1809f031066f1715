"""Checkpoint files: the one way they are written (AtomicCheckpointIO) and the one safe way to open them.

Writing. Lightning's own save goes through fsspec, which writes to a temporary file in $TMPDIR and moves
it: where the run folder is on another file system (local /tmp, shared outputs: the usual cluster layout)
the move is a copy into the final name, and a full disk left a truncated last.ckpt in place of the good
one. AtomicCheckpointIO (conf/trainer) writes every checkpoint through `atomic.atomic_file` instead.

Reading, for predict, export and the KD teacher alike:

A checkpoint is data, never code. Every read is `torch.load(..., weights_only=True)`, whose unpickler
refuses any global outside torch's allow-list, so a file whose pickle asks to run something (a
`__reduce__` to `os.system`) fails to load without running it. The module class is the caller's (see
trained.py's table keyed by the checkpoint's `task_name`), never a class named in the file, and the model
spec is rebuilt with `pretrained=False`: the weights come from the state_dict, nothing is downloaded or
read besides the encoder's config and tokenizer. This module imports no task: tasks import it.

Every failure is one line that starts with the argument's name (`run: …`, `smoothing.teacher: …`) and
names the file.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO
from torch import nn

from labelsmooth.atomic import atomic_file, sha256_of
from labelsmooth.run.metrics_file import METRICS, finished_run

CONFIG = Path(".hydra") / "config.yaml"  # a run's resolved config, beside its checkpoints/


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose writes are atomic, fsynced and get the user's umask (conf/trainer)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__}.save_checkpoint: storage_options are not supported")
        with atomic_file(Path(path)) as f:
            torch.save(checkpoint, f)


class ConfinedModelCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint (best.ckpt, conf/callbacks), whose state restored from a checkpoint names
    files of its own `dirpath` only. Lightning restores `best_model_path` (and, for an equal dirpath,
    `best_k_models`, `kth_best_model_path`, `last_model_path`) as stored: a crafted or copied last.ckpt could
    make a resume evaluate another run's best.ckpt as its own, or delete a file outside the run folder as a
    superseded top-k checkpoint. A checkpoint is data: of each stored path only its file name is kept, in
    this run's checkpoints/; a name that is no plain file name is dropped."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.best_model_path = self._own(self.best_model_path)
        self.kth_best_model_path = self._own(self.kth_best_model_path)
        self.last_model_path = self._own(self.last_model_path)
        confined = {self._own(str(path)): score for path, score in self.best_k_models.items()}
        self.best_k_models = {path: score for path, score in confined.items() if path}

    def _own(self, path: str) -> str:
        name = Path(str(path)).name if path else ""
        if name in ("", ".", "..") or self.dirpath is None:
            return ""
        return os.path.join(self.dirpath, name)


class CheckpointInfo(NamedTuple):
    """A checked checkpoint: where it is, its task, and the model spec to rebuild the module with."""

    path: Path
    task_name: str
    model: dict | None  # hyper_parameters["model"] with pretrained=False, or None when it has none
    hparams: dict  # the module's other hyper-parameters, as stored (labels, ...)


def run_dir_of(ckpt: Path) -> Path | None:
    """The run directory of `<run>/checkpoints/x.ckpt`, or None for a checkpoint kept elsewhere."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else None


def resolve_checkpoint(path_or_run_dir: Any, key: str) -> tuple[Path, Path | None]:
    """The checkpoint file and its run directory (None if it lives outside one).

    A run directory must be finished (its metrics.json; `finished_run` raises otherwise) and resolves to
    the checkpoint its metrics.json was computed from (`scored_checkpoint`); a file inside a run's
    checkpoints/ must be that one. A checkpoint outside any run folder is taken as it is.
    """
    if path_or_run_dir is None or not str(path_or_run_dir).strip():
        raise ValueError(f"{key}: required (a .ckpt file or a run directory); got none")
    path = Path(str(path_or_run_dir)).expanduser()
    if path.is_file():
        run = run_dir_of(path)
        if run is not None:  # <run>/checkpoints/x.ckpt: the run's scored checkpoint, nothing else
            scored = scored_checkpoint(finished_run(run, key), key)
            if scored.name != path.name:
                raise ValueError(
                    f"{key}: {path} is not the checkpoint {run / METRICS} was computed from ({scored.name}); "
                    "pass the run folder, or evaluate this one first with train=false ckpt_path=…"
                )
        return path, run
    if not path.is_dir():
        raise ValueError(f"{key}: no checkpoint or run directory at {path}")
    return scored_checkpoint(finished_run(path, key), key), path


def scored_checkpoint(run: Path, key: str) -> Path:
    """The checkpoint a finished run's metrics.json was computed from, as that file records it (its name
    in the run's checkpoints/ and its SHA-256): a later run into the folder, killed midway, may have
    replaced it; none recorded, or the file gone, is no result to build on."""
    result = json.loads((run / METRICS).read_text(encoding="utf-8"))
    recorded, digest = result.get("best_checkpoint"), result.get("best_checkpoint_sha256")
    if not recorded or not digest:
        raise ValueError(
            f"{key}: {run / METRICS} names no scored checkpoint with its SHA-256 (best_checkpoint, "
            "best_checkpoint_sha256): a limited debug run, or an edited file"
        )
    ckpt = run / "checkpoints" / Path(recorded).name
    if not ckpt.is_file():
        raise ValueError(f"{key}: {ckpt}, the checkpoint {run / METRICS} was computed from, is missing")
    if sha256_of(ckpt) != digest:
        raise ValueError(
            f"{key}: {ckpt} is not the checkpoint {run / METRICS} was computed from (its SHA-256 differs: "
            "another run wrote it); evaluate it anew with train=false ckpt_path=…"
        )
    return ckpt


def read_checkpoint(path: Path, key: str) -> CheckpointInfo:
    """The checkpoint's task and model spec, checked (tensors stay on disk: mmap)."""
    ckpt = load_weights_only(path, key)
    for name in ("state_dict", "task_name"):
        if not isinstance(ckpt, Mapping) or name not in ckpt:
            raise ValueError(f"{key}: {path} is not a task checkpoint of this project (no {name!r})")
    hparams = ckpt.get("hyper_parameters")
    hparams = dict(hparams) if isinstance(hparams, Mapping) else {}
    model = hparams.pop("model", None)
    if isinstance(model, Mapping):
        model = dict(model)
        if "pretrained" in model:  # the state_dict overwrites pretrained weights: never fetch or read them
            model["pretrained"] = False
    else:
        model = None
    return CheckpointInfo(path, str(ckpt["task_name"]), model, hparams)


def load_module(
    info: CheckpointInfo,
    module_cls: type,
    key: str,
    device: Any = "cpu",
    model_overrides: Mapping[str, Any] | None = None,
) -> nn.Module:
    """`module_cls` with the checkpoint's weights, in eval mode (optimizer=None: nothing to train)."""
    overrides: dict[str, Any] = {}
    if info.model is not None:
        model = dict(info.model)
        model.update({k: v for k, v in (model_overrides or {}).items() if k in model})
        overrides["model"] = model
    try:
        module = module_cls.load_from_checkpoint(
            info.path, map_location=device, weights_only=True, optimizer=None, **overrides
        )
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, KeyError, TypeError) as err:
        # e.g. a state_dict that does not fit the module the hyper-parameters build. One line for the
        # user; the cause stays chained, so a bug of ours keeps its traceback (HYDRA_FULL_ERROR=1, logs).
        raise ValueError(
            f"{key}: {info.path} does not load as {module_cls.__name__} ({short_reason(err)})"
        ) from err
    return module.eval()


def load_weights_only(path: Path, key: str) -> Any:
    """torch.load, weights-only (a pickle that asks for code is refused unrun); unreadable -> one line."""
    reason = "empty file"
    try:
        size = path.stat().st_size
    except OSError as err:
        size, reason = 0, err.strerror or type(err).__name__
    if size > 0:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        # What torch raises for a truncated, corrupt or foreign file, or a pickle that wants a global.
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as err:
            reason = short_reason(err)
    # Raised outside the handler: torch's long message (which advises an unsafe full load) is not chained.
    raise ValueError(f"{key}: {path} is not a readable checkpoint ({reason})")


def short_reason(err: Exception) -> str:
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


def run_config_path(ckpt: Path, run: Path | None, key: str) -> Path:
    """The run's saved config (`<ckpt>/../../.hydra/config.yaml`), or one line saying why there is none."""
    run = run if run is not None else run_dir_of(ckpt)
    if run is None or not (run / CONFIG).is_file():
        where = run / CONFIG if run is not None else ckpt.parent.parent / CONFIG
        raise ValueError(
            f"{key}: no run config at {where}: the data settings (max_length, windows) come from the run's "
            "config; pass the run directory, or keep the checkpoint in <run>/checkpoints/"
        )
    return run / CONFIG
