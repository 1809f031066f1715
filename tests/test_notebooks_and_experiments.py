"""Experiment recipes compose and run (shortened); the analysis notebook executes on their output."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import CLAIMS_CMD, entry_command, read_metrics, run_entry, run_notebook

from labelsmooth.analysis.summarise import summarise

pytestmark = pytest.mark.slow  # run.py sweeps and the notebook in subprocesses


def test_distillation_recipes_train_students_from_the_finished_teacher_sweep(tmp_path):
    # Two sweeps, one after the other, as experiments/README.md says: teachers, then students.
    common = ["trainer.max_epochs=2", "hydra.sweeper.params.seed=0", f"distill_dir={tmp_path / 'kd'}"]
    run_entry(["-m", "experiment=distill_teachers", *common], cwd=tmp_path)
    teachers = tmp_path / "kd" / "teachers"
    assert {p.name for p in teachers.iterdir() if (p / ".hydra").is_dir()} == {"none_seed0", "ls_seed0"}
    run_entry(["-m", "experiment=ls_teacher_distillation", *common], cwd=tmp_path)
    students = tmp_path / "kd" / "students_of_ls_teacher"
    jobs = {p.name for p in students.iterdir() if (p / ".hydra").is_dir()}
    assert jobs == {"teacher_none_seed0", "teacher_ls_seed0"}
    for job in [teachers / "none_seed0", teachers / "ls_seed0"] + [students / j for j in jobs]:
        assert 0 < read_metrics(job)["test/accuracy"] <= 100
    student = (students / "teacher_ls_seed0" / ".hydra" / "config.yaml").read_text()
    assert "teacher: ${distill_dir}/teachers/${teacher}_seed${seed}" in student and "hidden: 100" in student
    table = summarise(students, ["test/accuracy", "test/ece"])
    assert table.count("| 1 |") == 2
    # one seed: a verdict is computed but cannot be more than inconclusive
    verdicts = subprocess.run(
        [
            CLAIMS_CMD,
            "verdicts",
            str(students),
            "--baseline",
            "teacher=none",
        ]
        + ["--metric", "test/accuracy", "--claim", "lower"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "| teacher=ls | 1 |" in verdicts and "inconclusive" in verdicts


def test_calibration_recipe_reports_before_and_after_temperature_scaling(tmp_path):
    sweep = tmp_path / "cal"
    run_entry(
        [
            "-m",
            "experiment=ls_calibration",
            "trainer.max_epochs=2",
            "hydra.sweeper.params.seed=0",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
    )
    for job in ("none_seed0", "ls_seed0"):
        metrics = read_metrics(sweep / job)
        assert metrics["val/temperature"] > 0
        # T is fitted to minimise validation NLL, so it cannot make it worse
        assert metrics["val/nll_ts"] <= metrics["val/nll"] + 1e-6
        assert {"test/ece", "test/ece_ts", "test/nll_ts"} <= metrics.keys()

    printed = run_notebook(sweep)
    assert (sweep / "ece_by_configuration.png").stat().st_size > 0
    assert "| smoothing=ls " in printed and "| smoothing=none " in printed
    # metrics.json has no confidence gap: summarise computes it from each job's per-item test scores.
    scores = json.loads((sweep / "none_seed0" / "scores_test.json").read_text())
    n = len(scores["correct"])
    gap = sum(scores["confidence"]) / n - sum(scores["correct"]) / n
    table = summarise(sweep, ["test/accuracy", "test/confidence_gap"])
    assert f"| {gap:.4g} |" in next(line for line in table.splitlines() if "smoothing=none" in line)


def test_overconfident_stand_in_evaluates_its_last_epoch(tmp_path):
    run = tmp_path / "oc"
    args = ["experiment=ls_calibration_overconfident", "smoothing=none", "trainer.max_epochs=3"]
    run_entry([*args, "model.hidden=64", "logger=none", f"hydra.run.dir={run}"], cwd=tmp_path)
    import torch

    best = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True, map_location="cpu")
    assert best["epoch"] == 2  # the last of three epochs, not the one with the best validation accuracy
    config = (run / ".hydra" / "config.yaml").read_text()
    assert "depth: 2" in config and "every_n_epochs: ${trainer.max_epochs}" in config


def test_output_regularizer_recipe_sweeps_the_published_grid(tmp_path):
    out = subprocess.run(
        entry_command(["experiment=mlp_output_regularizers", "--cfg", "hydra"]),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "regularizer: none,ls_0.05," in out and "ls_0.9" in out and "cp_2.0" in out
    assert "seed: 0,1,2,3,4" in out
