"""The output contract of a run folder: `metrics.json` written atomically and last, with its provenance.

`metrics.json` marks a finished run: whatever consumes a run (a KD teacher, predict, export, the summaries)
calls `finished_run` and refuses a folder without it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

METRICS = "metrics.json"
# A failed multirun job's traceback (hydra_callbacks.FailureReport); readers of sweeps skip such folders.
ERROR = "error.txt"
PACKAGES = ("torch", "pytorch-lightning", "transformers", "hydra-core", "wandb")


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename (all or nothing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout (an installed package): the versions still say what ran
    return out.stdout.strip()


def provenance(device: str) -> dict[str, Any]:
    """What produced a run: python and package versions, the git commit (and a dirty tree), the device."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "python": platform.python_version(),
        **versions,
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
        "device": device,
        "command": " ".join(sys.argv),
    }


def write_metrics(run_dir: str | Path, metrics: dict[str, Any], run: dict[str, Any]) -> Path:
    """metrics.json: flat `val/*`, `test/*` keys, `best_checkpoint`, and the provenance under `run`."""
    path = Path(run_dir) / METRICS
    write_atomic(path, json.dumps({**metrics, "run": run}, indent=2) + "\n")
    return path


def finished_run(run_dir: str | Path, key: str) -> Path:
    """`run_dir` if it holds a finished run (its metrics.json), else one line naming the config `key`."""
    path = Path(run_dir).expanduser()
    if not path.is_dir():
        raise ValueError(f"{key}: no run directory at {path}")
    if not (path / METRICS).is_file():
        raise ValueError(f"{key}: {path} is not a finished run (no {METRICS}; interrupted or still running?)")
    return path
