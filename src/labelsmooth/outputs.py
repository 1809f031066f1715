"""The output contract of a run folder: `metrics.json` written atomically and last, with its provenance.

`metrics.json` marks a finished run: whatever consumes a run (a KD teacher, predict, export, the summaries)
calls `finished_run` and refuses a folder without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import IO, Any

METRICS = "metrics.json"
# A failed multirun job's traceback (hydra_callbacks.FailureReport); readers of sweeps skip such folders.
ERROR = "error.txt"
PACKAGES = ("torch", "pytorch-lightning", "transformers", "hydra-core", "wandb")


def umask_mode(mode: int = 0o666) -> int:
    """`mode` as the user's umask lets a new file have it (what `open(path, "w")` would give)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


@contextmanager
def atomic_file(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """A file object whose content replaces `path` all at once, or not at all.

    It is a temporary file in the same folder (a rename across file systems would be a copy under the
    final name), flushed and fsynced, given the permissions the user's umask gives any new file (mkstemp
    makes it private), then renamed over `path`; the folder is fsynced so the rename survives a crash. On
    any error, a full disk or a kill, `path` keeps its previous content and the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` all or nothing (see `atomic_file`)."""
    with atomic_file(path, "w") as f:
        f.write(text)


def write_compact_json(value: Any, path: str | Path) -> None:
    """`value` as compact JSON at `path`, all or nothing (the per-item score files: thousands of numbers)."""
    write_atomic(path, json.dumps(value, separators=(",", ":")))


# The committed results of the claims' sweeps, relative to the checkout (experiments/claims.py writes it).
RESULTS_STORE = "experiments/results"
# claims.py adds to the results store between the batches of a sweep; no run reads it, so a change there
# leaves the code that ran equal to its commit and does not make the tree "dirty".
NOT_CODE = f":(exclude){RESULTS_STORE}"


def _git(root: Path, *args: str) -> str | None:
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
    commit, dirty = git_state(Path(__file__).resolve().parents[2])
    return {
        "python": platform.python_version(),
        **versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "device": device,
        "command": " ".join(sys.argv),
    }


def git_state(root: Path) -> tuple[str | None, bool | None]:
    """The checkout's commit and whether its tracked files differ from it (NOT_CODE aside); (None, None)
    outside a git checkout."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".", NOT_CODE)
    return commit, (bool(status) if status is not None else None)


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (what ties metrics.json to the checkpoint it describes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


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
