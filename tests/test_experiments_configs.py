"""Every experiment recipe composes, and every value its sweep names is a real config option or key."""

from __future__ import annotations

import inspect
import subprocess

import pytest
from conftest import ROOT, entry_command
from hydra import compose, initialize_config_dir
from hydra._internal.utils import _locate
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

CONF = ROOT / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
GROUPS = {p.name for p in CONF.iterdir() if p.is_dir()}
PAPER_SCALE = {
    "ner_gls_bert_base": ("ner", "bert_base_cased", "conll_files", 5),
    "qa_gls_bert_large": ("qa", "bert_large_cased", "squad_files", 3),
    "qa_gls_albert_xlarge": ("qa", "albert_xlarge_v2", "squad_files", 3),
}


def compose_cfg(*overrides: str):
    import labelsmooth  # noqa: F401  (the project's resolvers)

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def sweep_points(cfg) -> dict[str, list[str]]:
    """hydra.sweeper.params as {key: [value, …]}, parsed with Hydra's own override grammar."""
    parser = OverridesParser.create()
    points = {}
    for key, spec in (cfg.hydra.sweeper.params or {}).items():
        override = parser.parse_override(f"{key}={spec}")
        points[key] = list(override.sweep_string_iterator()) if override.is_sweep_override() else [str(spec)]
    return points


def check_smoothing(smoothing) -> None:
    """The smoothing node resolves, its _target_ exists and its constructor accepts exactly these keys."""
    node = OmegaConf.to_container(smoothing, resolve=True)
    target = _locate(node.pop("_target_"))
    inspect.signature(target).bind(**node)


def test_there_are_recipes():
    assert {"gls_grid", "mlp_output_regularizers", "ls_calibration", "distill_teachers"} <= set(EXPERIMENTS)
    assert {"ls_teacher_distillation", "kd_temperature", "ner_gls", "qa_gls"} | set(PAPER_SCALE) <= set(
        EXPERIMENTS
    )


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_value_a_recipe_sweeps_composes(experiment):
    cfg = compose_cfg(f"experiment={experiment}")
    points = sweep_points(cfg)
    assert "seed" in points, f"{experiment}: no seeds in hydra.sweeper.params"
    assert len(points["seed"]) >= 3
    check_smoothing(cfg.smoothing)
    for key, values in points.items():
        assert len(values) == len(set(values)), f"{experiment}: {key} repeats a value"
        for value in values:
            point = compose_cfg(f"experiment={experiment}", f"{key}={value}")
            if key in GROUPS:  # a config group: the option exists (else compose raised) and was chosen
                assert point.hydra.runtime.choices[key] == value
            else:  # a config key: it exists (struct mode rejects new keys) and holds the value
                assert str(OmegaConf.select(point, key)) == value
            check_smoothing(point.smoothing)


def test_the_mlp_grid_and_the_student_table_pick_what_they_say():
    point = compose_cfg("experiment=mlp_output_regularizers", "regularizer=ls_0.05")
    assert point.smoothing._target_.endswith("LabelSmoothing") and point.smoothing.alpha == 0.05
    point = compose_cfg("experiment=mlp_output_regularizers", "regularizer=cp_0.5")
    assert point.smoothing._target_.endswith("ConfidencePenalty") and point.smoothing.beta == 0.5
    point = compose_cfg("experiment=kd_temperature", "student=kd_T5", "seed=3")
    assert point.smoothing.temperature == 5.0 and point.model.hidden == 100
    assert point.smoothing.teacher == "outputs/experiments/distill/digits/teachers/none_seed3"
    assert compose_cfg("experiment=kd_temperature", "student=alone").smoothing._target_.endswith(
        "NoSmoothing"
    )
    with pytest.raises(Exception, match="ls_0.4"):
        OmegaConf.to_container(
            compose_cfg("experiment=mlp_output_regularizers", "regularizer=ls_0.4").smoothing, resolve=True
        )


def test_students_look_for_teachers_where_the_teacher_sweep_puts_them():
    teachers = compose_cfg("experiment=distill_teachers", "data=mnist")
    teacher_smoothings = sweep_points(teachers)["smoothing"]
    assert teachers.hydra.sweep.dir == "outputs/experiments/distill/mnist/teachers"
    subdir = OmegaConf.to_container(teachers.hydra.sweep)["subdir"]
    assert subdir == "${hydra:runtime.choices.smoothing}_seed${seed}"
    for recipe, key in (("ls_teacher_distillation", "teacher"), ("kd_temperature", None)):
        students = compose_cfg(f"experiment={recipe}", "data=mnist", "seed=4")
        assert students.distill_dir == teachers.distill_dir == "outputs/experiments/distill/mnist"
        # a separate sweep folder: the teachers' folder is never a student's sweep.dir
        assert not str(students.hydra.sweep.dir).endswith("/teachers")
        values = sweep_points(students)[key] if key else ["none"]
        assert set(values) <= set(teacher_smoothings)
        for value in values:
            overrides = [f"experiment={recipe}", "data=mnist", "seed=4"]
            point = (
                compose_cfg(*overrides, f"{key}={value}") if key else compose_cfg(*overrides, "student=kd_T1")
            )
            assert point.smoothing.teacher == f"outputs/experiments/distill/mnist/teachers/{value}_seed4"


def test_gls_grid_is_the_published_alpha_sigma_grid():
    points = sweep_points(compose_cfg("experiment=gls_grid"))
    assert points["smoothing.alpha"] == ["0.05", "0.1", "0.2", "0.3"]
    assert points["smoothing.sigma"] == ["0.5", "1.0", "2.0", "4.0"]
    assert compose_cfg("experiment=gls_grid").hydra.runtime.choices.smoothing == "gls"


@pytest.mark.parametrize("experiment", sorted(PAPER_SCALE))
def test_paper_scale_recipes_name_the_paper_models_and_data(experiment):
    task, model, data, seeds = PAPER_SCALE[experiment]
    cfg = compose_cfg(f"experiment={experiment}", "data.dir=/data")
    choices = cfg.hydra.runtime.choices
    assert (choices.task, choices.model, choices.data) == (task, model, data)
    assert len(sweep_points(cfg)["seed"]) >= seeds
    assert sweep_points(cfg)["smoothing"] == ["none", "ls", "gls"]


def test_help_lists_only_user_facing_groups(tmp_path):
    out = subprocess.run(
        entry_command(["--help"]),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    groups = out.split("== Configuration groups ==")[1].split("== Config ==")[0]
    listed = {line.split(":")[0] for line in groups.splitlines() if ": " in line}
    assert "distill" not in listed and not any("/" in g for g in listed)
    assert {"experiment", "smoothing", "task", "data", "model"} <= listed
