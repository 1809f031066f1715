"""The output contract of a run folder: `metrics.json`, written atomically and last, marks a finished run.

Whatever consumes a run (a KD teacher, predict, export, the sweep readers, the claims engine) calls
`finished_run` and refuses a folder without it. A failed multirun job leaves `error.txt` instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labelsmooth.atomic import write_atomic

METRICS = "metrics.json"
# A failed multirun job's traceback (hydra_callbacks.FailureReport); readers of sweeps skip such folders.
ERROR = "error.txt"


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
