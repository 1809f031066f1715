"""A resume checks before it destroys: only this folder's own full checkpoint, with the settings it was
trained with (early stopping added is a change), and metrics.json says what was resumed from where."""

from __future__ import annotations

import shutil

import pytest
from conftest import read_metrics, run_entry

pytestmark = pytest.mark.slow  # run.py in subprocesses

NER = [
    "task=ner",
    "model=tiny",
    "data.n_train=48",
    "data.n_val=16",
    "data.n_test=16",
    "logger=none",
    "trainer.max_epochs=1",
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished") / "run"
    run_entry([*NER, f"hydra.run.dir={folder}"], cwd=folder.parent)
    return folder


def test_a_resume_from_another_folders_checkpoint_is_refused_and_the_result_stays(tmp_path, finished):
    mine = shutil.copytree(finished, tmp_path / "mine")
    other = shutil.copytree(finished, tmp_path / "other")
    before = (mine / "metrics.json").read_bytes()
    foreign = other / "checkpoints" / "last.ckpt"
    proc = run_entry([*NER, f"ckpt_path={foreign}", f"hydra.run.dir={mine}"], cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert f"{foreign} is not a checkpoint of this run folder ({mine / 'checkpoints'}/)" in proc.stderr
    assert (mine / "metrics.json").read_bytes() == before


def test_a_resume_from_a_weights_only_checkpoint_is_refused_and_the_result_stays(tmp_path):
    run = tmp_path / "run"
    args = [*NER, "callbacks.model_checkpoint.save_weights_only=true", f"hydra.run.dir={run}"]
    run_entry(args, cwd=tmp_path)
    before = (run / "metrics.json").read_bytes()
    best = run / "checkpoints" / "best.ckpt"
    proc = run_entry([*args, f"ckpt_path={best}"], cwd=tmp_path, check=False)
    assert proc.returncode != 0 and f"{best} holds weights only" in proc.stderr
    assert (run / "metrics.json").read_bytes() == before


def test_a_resume_that_adds_early_stopping_is_refused_naming_it(tmp_path, finished):
    run = shutil.copytree(finished, tmp_path / "run")
    before = (run / "metrics.json").read_bytes()
    stop = [
        "+callbacks.early_stopping._target_=pytorch_lightning.callbacks.EarlyStopping",
        "+callbacks.early_stopping.monitor=val/f1",
    ]
    grown = ["trainer.max_epochs=2"]
    proc = run_entry(
        [*NER[:-1], *grown, *stop, "ckpt_path=last", f"hydra.run.dir={run}"], cwd=tmp_path, check=False
    )
    assert proc.returncode != 0 and "callbacks.early_stopping._target_ ((unset) →" in proc.stderr
    assert (run / "metrics.json").read_bytes() == before


def test_metrics_json_records_what_a_resume_continued_and_the_changes_it_allowed(tmp_path, finished):
    run = shutil.copytree(finished, tmp_path / "run")
    first = read_metrics(run)["run"]
    assert first["resumed_from"] == [] and first["commits"] == [first["git_commit"]]
    args = [*NER[:-1], "trainer.max_epochs=2", "task.module.optimizer.lr=0.001", "resume_changed=true"]
    run_entry([*args, "ckpt_path=last", f"hydra.run.dir={run}"], cwd=tmp_path)
    (resumed,) = read_metrics(run)["run"]["resumed_from"]
    assert resumed["checkpoint"] == str(run / "checkpoints" / "last.ckpt") and resumed["step"] == 2
    changed = [c.split(" (")[0] for c in resumed["changed_settings"]]
    assert changed == ["task.module.optimizer.lr", "trainer.max_epochs"]  # a longer run is a change too
    assert read_metrics(run)["run"]["commits"] == first["commits"]
