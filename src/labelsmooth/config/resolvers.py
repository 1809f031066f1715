"""OmegaConf resolvers used by conf/ (registered on import of the package)."""

from pathlib import Path

from omegaconf import OmegaConf


def run_name(task: str, smoothing: str, overrides: str) -> str:
    """W&B run name: the job's command-line overrides, or `task-smoothing` when there are none."""
    return overrides or f"{task}-{smoothing}"


def run_group(task: str, mode: object, sweep_dir: str, run_dir: str) -> str:
    """W&B group: the multirun's sweep folder (shared by all its jobs), or the single run's own folder."""
    folder = sweep_dir if str(mode).endswith("MULTIRUN") else run_dir
    return f"{task}-{Path(folder).name}"


def register() -> None:
    """Register once; re-registering (tests import twice) replaces the same function."""
    OmegaConf.register_new_resolver("run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("run_group", run_group, replace=True)
