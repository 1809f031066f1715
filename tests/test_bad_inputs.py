"""The bad-input drill's third round: values that ended in a traceback, a late failure or a silent result.
Now each stops before anything is built, with one line naming its key.

Most cases call `check_config` on the composed config (what `train` calls first); the behaviours that only
the real entry point shows (Hydra's command line, folders created where run.py starts) run run.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TINY_NER, run_entry
from job_config import JOB_DIR, job_config

from labelsmooth.config.checks import check_config
from labelsmooth.run.command_line import RepeatedKeyCheck, repeated_key

NER = [*TINY_NER, "logger=none"]


def refused(overrides: list[str], task: str = "ner") -> str:
    """The one line `check_config` refuses the composed config with."""
    with pytest.raises(ValueError) as err:
        check_config(job_config(overrides, task))
    message = str(err.value)
    assert "\n" not in message
    return message


# --- the trainer ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        # Lightning clips only above 0: -1 turned clipping off without a word.
        ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val=-1: expected a finite number >= 0"),
        ("trainer.gradient_clip_val=nan", "trainer.gradient_clip_val=nan: expected a finite number >= 0"),
        # These trained nothing and wrote the untrained model's scores as a finished result.
        ("+trainer.limit_train_batches=0", "trainer.limit_train_batches=0: the run is trained on train;"),
        ("+trainer.limit_train_batches=0.0", "trainer.limit_train_batches=0.0: the run is trained on train;"),
        ("+trainer.limit_train_batches=1.5", "trainer.limit_train_batches=1.5: the run is trained on train;"),
        ("+trainer.max_steps=0", "trainer.max_steps=0: the run trains; expected -1 (no limit) or an integer"),
        ("+trainer.max_steps=-2", "trainer.max_steps=-2: the run trains; expected -1 (no limit) or an"),
    ],
)
def test_trainer_values_lightning_takes_silently_are_refused(override, expected):
    assert refused([override]).startswith(expected)


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer.gradient_clip_val=0"],
        ["trainer.gradient_clip_val=null"],
        ["+trainer.limit_train_batches=0.5", "+trainer.max_steps=10"],
        ["+trainer.limit_train_batches=2", "+trainer.max_steps=-1"],
    ],
)
def test_trainer_values_that_mean_what_they_say_pass(overrides):
    check_config(job_config(overrides))


# --- the QA module's decoding -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        # failed after a whole training epoch, naming postprocess()'s arguments
        ("task.module.max_answer_length=0", "task.module.max_answer_length=0: expected an integer >= 1"),
        ("task.module.n_best=0", "task.module.n_best=0: expected an integer >= 1"),
        # every question abstained, and the run exited 0
        (
            "task.module.null_score_diff_threshold=nan",
            "task.module.null_score_diff_threshold=nan: expected a",
        ),
        (
            "task.module.null_score_diff_threshold=inf",
            "task.module.null_score_diff_threshold=inf: expected a",
        ),
    ],
)
def test_qa_decoding_values_are_refused_by_their_keys(override, expected):
    assert refused([override], task="qa").startswith(expected)


def test_qa_decoding_values_in_range_pass():
    check_config(job_config(["task.module.null_score_diff_threshold=-1.5", "task.module.n_best=1"], "qa"))


# --- path-valued keys -------------------------------------------------------------------------------------
NULL_LIKE = "expected a path; that string names no folder"
NULL_PART = "expected a path; a part 'None' or 'null' is a null put into it by an interpolation"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # Hydra reads None as the string 'None': this made ./None/<hash>/ in the repository
        (["task.datamodule.cache_dir=None"], f"task.datamodule.cache_dir='None': {NULL_LIKE}"),
        (["task.datamodule.cache_dir=''"], f"task.datamodule.cache_dir='': {NULL_LIKE}"),
        (["data=conll_files", "data.dir="], f"data.dir='': {NULL_LIKE}"),
        (["data=conll_files", "data.dir=' '"], f"data.dir=' ': {NULL_LIKE}"),
        (["data=conll_files"], "data.dir: missing (???); expected a path: data.dir=…"),
        (["paths.data_dir=null"], "paths.data_dir=null: expected a path; null names no folder here"),
        (["paths.data_dir=None"], f"paths.data_dir='None': {NULL_LIKE}"),
        (["paths.root_dir=null"], "paths.root_dir=null: expected a path; null names no folder here"),
        (["ckpt_path=None"], f"ckpt_path='None': {NULL_LIKE}"),
        (
            ["task.datamodule.cache_dir=${paths.root_dir}/None/x"],
            f"task.datamodule.cache_dir='{JOB_DIR}/None/x': {NULL_PART}",
        ),
        (["task.datamodule.cache_dir=3"], "task.datamodule.cache_dir=3: expected a path; got int"),
        # null where the constructor wants a name: once a TypeError in `Path / None` when the data was read
        (
            ["data=conll_files", "data.dir=/d", "data.val_file=null"],
            "data.val_file=null: expected a path; labelsmooth.data.conll_sources.ConllFiles takes no null "
            "for val_file",
        ),
        (
            ["data=squad_files", "data.dir=/d", "data.train_file=null"],
            "data.train_file=null: expected a path; labelsmooth.data.squad.SquadFiles takes no null for "
            "train_file",
        ),
        (["model.name_or_path=null"], "model.name_or_path=null: expected a path; "),
        (
            ["+data.base_dir=null", "task.datamodule.cache_dir=${data.base_dir}/features"],
            f"task.datamodule.cache_dir='None/features': {NULL_PART}",
        ),
    ],
)
def test_a_path_valued_key_without_a_path_is_refused_naming_it(overrides, expected):
    assert refused(overrides).startswith(expected)


def test_null_keeps_its_meaning_where_a_key_has_one():
    cfg = job_config(["task.datamodule.cache_dir=null", "ckpt_path=null"])  # no cache; start afresh
    check_config(cfg)
    check_config(job_config(["data=squad_files", "data.dir=/d", "data.test_file=null"], task="qa"))  # dev
    check_config(job_config(["callbacks.model_checkpoint.dirpath=null"]))  # Lightning's own folder


# --- a key given twice on the command line ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["seed=1,2", "seed=3"], "seed=1,2 seed=3: seed is given twice on the command line; expected each"),
        (["task=qa", "x=1", "task=ner"], "task=qa task=ner: task is given twice on the command line;"),
        (["+a.b=1", "++a.b=2"], "+a.b=1 ++a.b=2: a.b is given twice"),
        (["hydra.run.dir=a", "hydra.run.dir=b"], "hydra.run.dir=a hydra.run.dir=b: hydra.run.dir is given"),
    ],
)
def test_a_key_given_twice_is_named(overrides, expected):
    assert repeated_key(overrides).startswith(expected)


def test_distinct_keys_are_not_a_repetition():
    assert repeated_key(["seed=1", "data.seed=1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]) is None


def test_a_single_run_with_a_key_given_twice_exits_with_one_line(capsys):
    cfg = job_config(["seed=1", "seed=3"])  # Hydra composes it with seed=3, silently
    assert cfg.seed == 3
    with pytest.raises(SystemExit) as stop:
        RepeatedKeyCheck().on_run_start(config=cfg)
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "seed=1 seed=3: seed is given twice on the command line; expected each key once "
        "(Hydra would silently keep only seed=3)"
    ]


def test_the_ranks_lightning_starts_are_not_checked_again(monkeypatch):
    """Lightning starts DDP rank n as `run.py <the same line> hydra.run.dir=<run dir>`: a second run dir."""
    cfg = job_config(["hydra.run.dir=/tmp/x", "hydra.run.dir=/tmp/x"])
    monkeypatch.setenv("LOCAL_RANK", "1")
    RepeatedKeyCheck().on_run_start(config=cfg)  # no exit
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(SystemExit):
        RepeatedKeyCheck().on_run_start(config=cfg)


# --- through run.py ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_sweep_with_a_key_given_twice_runs_no_job_and_says_so_in_one_line(tmp_path):
    """`-m seed=1,2 seed=3` dropped the sweep 1,2 and ran one job, exit 0."""
    sweep = tmp_path / "sweep"
    proc = run_entry(
        ["-m", *NER, "seed=1,2", "seed=3", f"hydra.sweep.dir={sweep}"], cwd=tmp_path, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "seed=1,2 seed=3: seed is given twice on the command line; expected each key once "
        "(Hydra would silently keep only seed=3)"
    ]
    assert not sweep.exists()


@pytest.mark.slow
def test_cache_dir_none_makes_no_folder_named_none(tmp_path):
    proc = run_entry(
        [*NER, "task.datamodule.cache_dir=None", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, False
    )
    assert proc.returncode != 0
    assert [
        line for line in proc.stderr.splitlines() if re.search(r"cache_dir='None': expected a path", line)
    ]
    assert not (tmp_path / "None").exists() and not Path(tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trainer.devices=0", r"^trainer: .*devices"),
        ("trainer.precision=7", r"^trainer: .*[Pp]recision"),
        ("trainer.accelerator=gpu", r"^trainer: .*(GPU|gpu|CUDA|cuda)"),
    ],
)
def test_lightnings_own_trainer_checks_are_one_line_naming_trainer(override, expected):
    """The trainer is built before any data (train._trainer); Lightning's refusal becomes one line."""
    import torch

    from labelsmooth.cli.train import _trainer

    if override.endswith("gpu") and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match=expected) as err:
        _trainer(job_config([override]), [])
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_a_trainer_lightning_refuses_stops_before_the_data_is_read(tmp_path):
    proc = run_entry(
        [*TINY_NER, "trainer.devices=0", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, check=False
    )
    assert proc.returncode != 0 and "trainer: " in proc.stderr
    assert not (tmp_path / "data").exists()  # no data generated, no features tokenised
