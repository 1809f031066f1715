"""What produced a run: python and package versions, the git commit and whether the code differed from it.

"The code" is what decides a run's result: the package, the config tree, the entry point and the project
file (CODE). Changes elsewhere in the checkout (the claims' results store, documents) leave a run "clean";
an untracked file inside CODE (a new conf/experiment/*.yaml) makes it dirty.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "pytorch-lightning", "transformers", "hydra-core", "wandb")
CODE = ("src", "conf", "run.py", "pyproject.toml")


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout (an installed package): the versions still say what ran
    return out.stdout.strip()


def checkout_root() -> Path | None:
    """The git checkout this package is imported from (src/labelsmooth inside it), or None for an
    installed copy: a wheel installed into a site-packages that happens to lie inside some checkout
    must not report that checkout's commit."""
    package = Path(__file__).resolve().parents[1]  # src/labelsmooth
    root = package.parents[1]
    return root if package.parent.name == "src" and (root / "pyproject.toml").is_file() else None


def project_root() -> Path:
    """Where the config tree (conf/) and experiments/ are: this checkout, or else the current folder."""
    return checkout_root() or Path.cwd()


def git_state(root: Path | None) -> tuple[str | None, bool | None]:
    """The checkout's commit and whether CODE differs from it (tracked or untracked, ignored files aside);
    (None, None) outside a git checkout."""
    if root is None:
        return None, None
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *CODE)
    return commit, (bool(status) if status is not None else None)


def checkout_code() -> tuple[str | None, bool | None]:
    """This checkout's git_state: the commit and dirty flag a run started now records."""
    return git_state(checkout_root())


def provenance(device: str) -> dict[str, Any]:
    """The `run` block of metrics.json (without the run's own seed, world size, ...)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    commit, dirty = checkout_code()
    return {
        "python": platform.python_version(),
        **versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "device": device,
        "command": " ".join(sys.argv),
    }
