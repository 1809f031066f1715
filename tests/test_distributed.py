"""Several processes give the one-process figures: DDP training, evaluation on 2 ranks, launchers, sweeps."""

from __future__ import annotations

import pytest
from conftest import read_metrics, run_entry

pytestmark = pytest.mark.slow  # every test here runs run.py (and its ranks) in subprocesses

# Split sizes that do not divide by 2, so one rank gets a repeated item that evaluation must drop.
TASKS = {
    "ner": ["task=ner", "model=tiny", "data.n_train=40", "data.n_val=17", "data.n_test=15"],
    "qa": [
        "task=qa",
        "model=tiny",
        "data.n_paragraphs_train=6",
        "data.n_paragraphs_val=3",
        "data.n_paragraphs_test=3",
    ],
    "image": ["task=image", "task.datamodule.eval_batch_size=50"],
}


def _scores(metrics: dict) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_two_process_training_then_one_process_evaluation_agree(tmp_path, task):
    args = [*TASKS[task], "trainer.max_epochs=1", "logger=none"]
    trained = tmp_path / "ddp"
    run_entry([*args, "trainer=ddp_sim", f"hydra.run.dir={trained}"], cwd=tmp_path)
    ddp = read_metrics(trained)
    assert ddp["run"]["world_size"] == 2
    # one metrics.json, one set of prediction files: rank 1 wrote none of its own
    assert sorted(p.name for p in trained.glob("metrics*.json")) == ["metrics.json"]

    best = ddp["best_checkpoint"]
    single = tmp_path / "cpu"
    run_entry(
        [*args, "trainer=cpu", "train=false", f"ckpt_path={best}", f"hydra.run.dir={single}"], cwd=tmp_path
    )
    one = read_metrics(single)
    assert one["run"]["world_size"] == 1
    ddp_scores, one_scores = _scores(ddp), _scores(one)
    assert ddp_scores.keys() == one_scores.keys() and len(one_scores) > 8
    for key, value in one_scores.items():
        assert ddp_scores[key] == pytest.approx(value, abs=1e-6), key
    for name in ("predictions_test.conll", "predictions_test.json", "na_probs_test.json"):
        if (single / name).exists():
            assert (trained / name).read_text() == (single / name).read_text(), name


def test_multirun_of_ddp_jobs_runs_each_job_once(tmp_path):
    sweep = tmp_path / "sweep"
    args = [*TASKS["ner"], "trainer.max_epochs=1", "logger=none", "trainer=ddp_sim"]
    run_entry(["-m", "smoothing=ls,gls", *args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]  # not a sweep replayed by the second rank of each job
    assert not (tmp_path / "outputs").exists()  # nor one written elsewhere
    for job, target in zip(jobs, ["LabelSmoothing", "GaussianLabelSmoothing"], strict=True):
        metrics = read_metrics(sweep / job)
        assert metrics["run"]["world_size"] == 2
        assert (sweep / job / "train_ddp_process_1.log").is_file()  # this job's own rank 1, as a single run
        config = (sweep / job / ".hydra" / "config.yaml").read_text()
        assert f"labelsmooth.smoothing.{target}" in config
