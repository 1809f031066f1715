"""The config tree cannot rot: every option of every group composes, and what needs no network instantiates.

Instantiating is the check that constructor arguments equal the YAML keys (an unknown key is a TypeError).
"""

from __future__ import annotations

import pytest
from conftest import ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

CONF = ROOT / "conf"
GROUPS = ["task", "data", "model", "smoothing", "calibration", "trainer", "logger", "debug", "hparams_search"]
# What cannot be built here: a required path (`???`), a teacher, GPUs, or a download.
NOT_HERE = {"data": {"conll_files", "squad_files"}, "smoothing": {"kd"}, "trainer": {"gpu", "ddp"}}


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _compose(overrides: list[str], tmp_path) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):  # what Hydra sets when it runs a job
        cfg.hydra.runtime.output_dir = str(tmp_path)
        cfg.hydra.runtime.cwd = str(tmp_path)
    HydraConfig.instance().set_config(cfg)
    return cfg


def _group_nodes(cfg: DictConfig, group: str) -> list[DictConfig]:
    if group == "task":
        return [cfg.task.datamodule]  # the module would build its encoder
    if group in ("calibration", "logger"):
        return [
            n for n in (cfg.callbacks if group == "calibration" else cfg.logger).values() if "_target_" in n
        ]
    if group in ("data", "model", "smoothing", "trainer"):
        return [cfg[group]]
    return []  # debug, hparams_search: composing is the check


CASES = [(g, o) for g in GROUPS for o in _options(g)]


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_every_option_composes_and_builds(group: str, option: str, tmp_path) -> None:
    task = {"conll": "ner", "squad": "qa"}.get(option.split("_")[0], "image") if group == "data" else "ner"
    if group == "model" and option == "mlp":
        task = "image"
    quiet = [] if group == "logger" else ["logger=none"]
    cfg = _compose([f"task={task}", *quiet, f"{group}={option}", "hydra.job.name=test"], tmp_path)
    assert cfg.hydra.runtime.choices[group] == option
    if option in NOT_HERE.get(group, ()):
        return
    for node in _group_nodes(cfg, group):
        assert instantiate(node) is not None


def test_help_lists_only_user_groups(tmp_path) -> None:
    groups = sorted(p.name for p in CONF.iterdir() if p.is_dir())
    assert "distill" not in groups and "grid" not in [p.name for p in (CONF / "smoothing").iterdir()]
