"""OmegaConf resolvers used by conf/ (registered on import of the package)."""

from omegaconf import OmegaConf


def run_name(task: str, smoothing: str, overrides: str) -> str:
    """W&B run name: the job's command-line overrides, or `task-smoothing` when there are none."""
    return overrides or f"{task}-{smoothing}"


def register() -> None:
    """Register once; re-registering (tests import twice) replaces the same function."""
    OmegaConf.register_new_resolver("run_name", run_name, replace=True)
