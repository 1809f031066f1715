"""The config of a job as `run.py` would hand it to `train`, without starting one: composed by Hydra, its
HydraConfig set (so `${hydra:…}` paths resolve and the command-line overrides are visible), for fast tests
of `check_config` on the real config tree."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONF = Path(__file__).resolve().parents[1] / "conf"
# The job folder and working directory of the composed job: never written by the checks.
JOB_DIR = Path(tempfile.gettempdir()) / "labelsmooth-composed-job"


def job_config(overrides: list[str], task: str = "ner") -> DictConfig:
    """`task=<task> model=tiny logger=none` plus `overrides`, with what Hydra sets when it runs a job."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[f"task={task}", "model=tiny", "logger=none", *overrides],
            return_hydra_config=True,
        )
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(JOB_DIR / "run")
        cfg.hydra.runtime.cwd = str(JOB_DIR)
    HydraConfig.instance().set_config(cfg)
    return cfg
