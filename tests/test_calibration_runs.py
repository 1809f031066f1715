"""Calibration through run.py: every level's estimators before and after a calibrator, in metrics.json,
the item files and the reliability diagrams; a calibrator the task's heads cannot take stops in one line."""

from __future__ import annotations

import json
import math

import pytest
from conftest import TINY_NER, read_metrics, run_entry

from labelsmooth.metrics.levels import estimator_names
from labelsmooth.tasks.image import ImageModule
from labelsmooth.tasks.ner import NERModule
from labelsmooth.tasks.qa import QAModule

PNG = b"\x89PNG\r\n\x1a\n"
TINY_QA = ["task=qa", "model=tiny", "data.n_paragraphs_train=4", "data.n_paragraphs_val=2"]
TINY_QA += ["data.n_paragraphs_test=3", "trainer.max_epochs=1"]


def _check_levels(run, module_cls, suffix):
    metrics = read_metrics(run)
    for split in ("val", "test"):
        for name in module_cls.level_metric_names() + module_cls.level_metric_names(suffix):
            assert math.isfinite(metrics[f"{split}/{name}"]), f"{split}/{name}"
    for level in module_cls.levels:
        for name in (f"reliability_test_{level}.png", f"reliability_test_{level}{suffix}.png"):
            assert (run / name).read_bytes()[:8] == PNG, name
    before = json.loads((run / "calibration_test.json").read_text())["levels"]
    after = json.loads((run / f"calibration_test{suffix}.json").read_text())["levels"]
    assert before.keys() == after.keys() == module_cls.levels.keys()
    return metrics, before, after


@pytest.mark.slow
def test_dirichlet_on_the_image_task_end_to_end(tmp_path):
    run = tmp_path / "image"
    run_entry(
        [
            "task=image",
            "calibration=dirichlet",
            "trainer.max_epochs=2",
            "logger=none",
            f"hydra.run.dir={run}",
        ],
        cwd=tmp_path,
    )
    metrics, before, after = _check_levels(run, ImageModule, "_dir")
    # Fitted on validation: its validation NLL can only fall (the identity map is where the fit starts).
    assert metrics["val/example/nll_dir"] <= metrics["val/example/nll"] + 1e-9
    assert len(before["example"]["correct"]) == len(after["example"]["correct"]) == 359
    assert set(estimator_names("classes")) <= {
        k.split("/")[-1] for k in metrics if k.startswith("test/example/")
    }


@pytest.mark.slow
def test_vector_scaling_on_qa_pointers_end_to_end(tmp_path):
    run = tmp_path / "qa"
    run_entry([*TINY_QA, "calibration=vector", "logger=none", f"hydra.run.dir={run}"], cwd=tmp_path)
    metrics, before, after = _check_levels(run, QAModule, "_vs")
    assert {
        "val/temperature_start",
        "val/temperature_end",
        "val/null_bias_start",
        "val/null_bias_end",
    } <= set(metrics)
    # One answer and one has-answer decision per test question.
    n = int(metrics["test/total"])
    assert len(before["answer"]["correct"]) == len(after["has_answer"]["correct"]) == n


@pytest.mark.slow
def test_temperature_on_ner_reports_tokens_and_entities(tmp_path):
    run = tmp_path / "ner"
    run_entry([*TINY_NER, "calibration=temperature", "logger=none", f"hydra.run.dir={run}"], cwd=tmp_path)
    metrics, before, after = _check_levels(run, NERModule, "_ts")
    # Temperature keeps every argmax: the same entities, each still right or wrong.
    assert before["entity"]["correct"] == after["entity"]["correct"]
    assert len(before["entity"]["group"]) == len(before["entity"]["correct"])
    assert metrics["test/token/ece"] == pytest.approx(metrics["test/ece"], abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("calibration", ["matrix", "dirichlet"])
def test_qa_refuses_class_calibrators_in_one_line_before_any_model_loads(tmp_path, calibration):
    proc = run_entry(
        [*TINY_QA, f"calibration={calibration}", "logger=none", f"hydra.run.dir={tmp_path / 'r'}"],
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode != 0
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith(f"ValueError: calibration={calibration}")]
    assert "positions are not classes; use calibration=temperature or calibration=vector" in line
    assert not (tmp_path / "r" / "checkpoints").exists()
