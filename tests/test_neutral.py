"""One list of result-neutral settings (run/neutral.py), read alike by the resume check, the sweep readers
and the results store: jobs that differ only in where they log are one configuration everywhere."""

from __future__ import annotations

import json

import pytest
import yaml

from labelsmooth.analysis.results_store import _fixed
from labelsmooth.run.neutral import neutral_override
from labelsmooth.run.settings import changed_settings
from labelsmooth.run.sweeps import configuration_names, read_jobs


@pytest.mark.parametrize(
    ("override", "neutral"),
    [
        ("logger=csv", True),
        ("logger=none", True),
        ("hydra/launcher=joblib", True),
        ("hydra.launcher.n_jobs=2", True),
        ("+callbacks.drill._target_=drills.Kill", True),
        ("~callbacks.reliability", True),
        ("callbacks.exact_resume.every_n_steps=3", True),
        ("paths.cache_dir=/tmp/c", True),
        ("callbacks.early_stopping.patience=3", False),
        ("+callbacks.early_stopping._target_=x", False),
        ("callbacks.calibration.calibrator.max_iter=10", False),
        ("callbacks.model_checkpoint.monitor=val/nll", False),
        ("smoothing=gls", False),
        ("seed=1", False),
        ("trainer.max_epochs=3", False),
        ("loggers=x", False),  # a prefix of a name is not the name
    ],
)
def test_which_overrides_never_change_a_result(override, neutral):
    assert neutral_override(override) is neutral


def _job(folder, overrides):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": 0}))
    (folder / "metrics.json").write_text(json.dumps({"test/f1": 90.0}))


def test_jobs_differing_only_in_their_logger_are_one_configuration_in_sweeps_and_the_store(tmp_path):
    _job(tmp_path / "a", ["smoothing=ls", "seed=0", "logger=csv"])
    _job(tmp_path / "b", ["smoothing=ls", "seed=1", "logger=wandb", "hydra.launcher.n_jobs=2"])
    _job(tmp_path / "c", ["smoothing=gls", "seed=0", "logger=csv"])
    jobs = read_jobs([tmp_path], warn=lambda line: None)
    names = configuration_names(jobs)
    assert [names[j] for j in jobs] == ["smoothing=ls", "smoothing=ls", "smoothing=gls"]
    entries = [{"overrides": list(j.overrides) + ["logger=csv"], "config": ["smoothing=ls"]} for j in jobs]
    assert _fixed(entries[0]) == _fixed(entries[1]) == []


def test_a_resume_that_adds_a_result_changing_callback_is_a_change_and_a_plot_is_not():
    saved = {"callbacks": {"reliability": {"n_bins": 15}}, "trainer": {"max_epochs": 3}}
    stop = saved | {"callbacks": {"reliability": {"n_bins": 15}, "early_stopping": {"patience": 2}}}
    assert changed_settings(saved, stop) == ["callbacks.early_stopping.patience ((unset) → 2)"]
    fewer_plots = saved | {"callbacks": {}}
    assert changed_settings(saved, fewer_plots) == []


def test_a_relative_path_compares_by_where_it_points_from_the_working_directory(tmp_path, monkeypatch):
    """A KD teacher given as `teachers/t` is another teacher when the resume starts from another folder."""
    from labelsmooth.run.settings import pinned

    for where in ("a", "b"):
        (tmp_path / where / "teachers" / "t").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    saved = pinned({"smoothing": {"teacher": "teachers/t", "name": "kd"}})
    assert saved["smoothing"] == {"teacher": str(tmp_path / "a" / "teachers" / "t"), "name": "kd"}
    assert changed_settings(saved, pinned({"smoothing": {"teacher": "teachers/t", "name": "kd"}})) == []
    monkeypatch.chdir(tmp_path / "b")
    (change,) = changed_settings(saved, pinned({"smoothing": {"teacher": "teachers/t", "name": "kd"}}))
    assert change.startswith("smoothing.teacher (") and str(tmp_path / "b") in change
