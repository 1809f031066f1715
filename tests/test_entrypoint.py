"""The real entry point: `run.py` through Hydra, sweeps, W&B offline runs, the output contract, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from conftest import TINY_NER, read_metrics, run_entry
from wandb_offline import read_run

pytestmark = pytest.mark.slow  # every test here runs run.py in a subprocess


def test_ner_multirun_two_jobs_in_one_wandb_group(tmp_path):
    sweep = tmp_path / "sweep"
    run_entry(["-m", "smoothing=ls,gls", *TINY_NER, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)

    jobs = sorted(p for p in sweep.iterdir() if (p / ".hydra").is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    runs = []
    for job, smoothing in zip(jobs, ["LabelSmoothing", "GaussianLabelSmoothing"], strict=True):
        metrics = read_metrics(job)
        for key in (
            "val/f1",
            "val/f1_strict",
            "val/ece",
            "test/f1",
            "test/precision",
            "test/recall",
            "test/ece",
        ):
            assert math.isfinite(metrics[key]), key
        assert (job / ".hydra" / "config.yaml").exists()
        assert (job / "checkpoints" / "best.ckpt").exists()
        assert (job / "predictions_test.conll").read_text().count("\n") > 16
        (wandb_dir,) = (job / "wandb").glob("offline-run-*")
        run = read_run(wandb_dir)
        # the resolved config is the run config; metrics and smoothing stats are logged
        assert run["config"]["smoothing"]["_target_"] == f"labelsmooth.smoothing.{smoothing}"
        assert run["config"]["task"]["name"] == "ner"
        assert run["summary"]["test/f1"] == pytest.approx(metrics["test/f1"], abs=1e-4)
        logged = set().union(*run["history"])
        assert {"train/loss", "train/nll", "smoothing/alpha", "smoothing/target_entropy", "val/f1"} <= logged
        # the dashboard: learning rate, plots as images, a table of test predictions, plain smoothing fields
        assert any(key.startswith("lr-") for key in logged), sorted(logged)
        media = {k: v for h in run["history"] for k, v in h.items() if k.endswith("/_type")}
        assert media["test/reliability/entity/_type"] == "images/separated"
        assert media["val/penultimate_projection/_type"] == "images/separated"
        assert media["test/predictions/_type"] == "table-file"
        assert list((wandb_dir / "files" / "media" / "images" / "test" / "reliability").glob("token_*.png"))
        assert run["config"]["smoothing_name"] == smoothing and run["config"]["smoothing_alpha"] == 0.1
        runs.append(run)
    assert runs[0]["group"] == runs[1]["group"] != ""
    assert runs[0]["name"] != runs[1]["name"]
    assert "smoothing:ls" in runs[0]["tags"] and "smoothing:gls" in runs[1]["tags"]
    # once per sweep: a summary run in the same group, with a row per job and per configuration
    (summary_dir,) = (sweep / "wandb").glob("offline-run-*")
    summary = read_run(summary_dir)
    assert summary["group"] == runs[0]["group"] and summary["config"]["jobs"] == 2
    tables = {k: v for h in summary["history"] for k, v in h.items() if k.startswith("sweep/")}
    assert tables["sweep/jobs/_type"] == tables["sweep/configurations/_type"] == "table-file"
    assert tables["sweep/jobs/nrows"] == tables["sweep/configurations/nrows"] == 2
    (jobs_file,) = (summary_dir / "files" / "media" / "table" / "sweep").glob("jobs_*.table.json")
    table = json.loads(jobs_file.read_text())
    f1 = table["data"][0][table["columns"].index("test/f1")]
    assert f1 == pytest.approx(read_metrics(jobs[0])["test/f1"]) and table["data"][0][0] == "0"


def test_same_seed_gives_same_metrics(tmp_path):
    def image_run(name: str, seed: int) -> dict:
        args = ["task=image", "trainer.max_epochs=2", "logger=csv", f"seed={seed}"]
        run_entry([*args, f"hydra.run.dir={tmp_path / name}"], cwd=tmp_path)
        metrics = read_metrics(tmp_path / name)
        metrics.pop("best_checkpoint")
        metrics.pop("run")  # provenance: the command differs by its run dir
        return metrics

    first, again, other = image_run("a", 7), image_run("b", 7), image_run("c", 8)
    assert first == again
    assert other["val/nll"] != first["val/nll"]


def test_help_lists_config_groups(tmp_path):
    out = run_entry(["--help"], cwd=tmp_path).stdout
    for line in (
        "smoothing: cp, gls, kd, ls, none",
        "task: image, ner, qa",
        "calibration: dirichlet, matrix, none, temperature, vector",
    ):
        assert line in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # A composition error (Hydra's) and a data error; the smoothings' own messages are unit-tested
        # (test_smoothing_losses) and reach the entry point in test_reliability's failing sweep.
        (["smoothing=nope"], "smoothing/nope"),
        (["data=conll_files", "data.dir=/no/such/dir"], "/no/such/dir"),
    ],
)
def test_bad_input_fails_with_one_clear_line(tmp_path, args, expected):
    proc = run_entry(["task=ner", "model=tiny", "logger=none", *args], cwd=tmp_path, check=False)
    assert proc.returncode != 0
    # the error itself is one line naming the key or file and what was expected
    assert [line for line in proc.stderr.splitlines() if expected in line], proc.stderr[-3000:]


def test_malformed_conll_file_names_file_and_line(tmp_path):
    data = tmp_path / "conll"
    data.mkdir()
    good = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\n\n"
    (data / "eng.testa").write_text(good)
    (data / "eng.testb").write_text(good)
    (data / "eng.train").write_text(good + "Peter NNP I-PER\n")
    proc = run_entry(
        ["task=ner", "model=tiny", "logger=none", "data=conll_files", f"data.dir={data}"],
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode != 0
    assert f"{data / 'eng.train'}:6:" in proc.stderr, proc.stderr[-3000:]


def test_qa_through_the_entry_point_writes_official_files(tmp_path):
    run_dir = tmp_path / "qa"
    args = [
        "task=qa",
        "model=tiny",
        "smoothing=gls",
        "data.n_paragraphs_train=12",
        "data.n_paragraphs_val=4",
        "data.n_paragraphs_test=4",
        "trainer.max_epochs=1",
        "logger=csv",
        f"hydra.run.dir={run_dir}",
    ]
    run_entry(args, cwd=tmp_path)
    metrics = read_metrics(run_dir)
    for split in ("val", "test"):
        for key in (
            "exact",
            "f1",
            "HasAns_f1",
            "NoAns_f1",
            "best_f1",
            "best_f1_thresh",
            "answer_ece",
            "start_ece",
        ):
            assert math.isfinite(metrics[f"{split}/{key}"]), f"{split}/{key}"
    # the written predictions re-score to the logged numbers with the official-format command
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "labelsmooth.metrics.squad_v2",
            str(next((tmp_path / "data/squad_synthetic").glob("*/test.json"))),
            str(run_dir / "predictions_test.json"),
            "--na-prob-file",
            str(run_dir / "na_probs_test.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    official = json.loads(proc.stdout)
    assert official["f1"] == pytest.approx(metrics["test/f1"], abs=1e-3)
    assert official["best_f1"] == pytest.approx(metrics["test/best_f1"], abs=1e-3)


def test_ner_distillation_from_an_earlier_run_and_teacher_task_check(tmp_path):
    teacher = tmp_path / "teacher"
    run_entry([*TINY_NER, "logger=none", f"hydra.run.dir={teacher}"], cwd=tmp_path)
    student = tmp_path / "student"
    run_entry(
        [*TINY_NER, "logger=csv", "smoothing=kd", f"smoothing.teacher={teacher}", f"hydra.run.dir={student}"],
        cwd=tmp_path,
    )
    assert math.isfinite(read_metrics(student)["test/f1"])
    # a NER teacher for a QA student is refused with one line naming the key and both tasks
    proc = run_entry(
        [
            "task=qa",
            "model=tiny",
            "logger=none",
            "smoothing=kd",
            f"smoothing.teacher={teacher}",
            "data.n_paragraphs_train=4",
            "data.n_paragraphs_val=2",
            "data.n_paragraphs_test=2",
        ],
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode != 0
    assert "smoothing.teacher:" in proc.stderr and "'ner', expected 'qa'" in proc.stderr, proc.stderr[-2000:]
