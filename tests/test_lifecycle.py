"""Preemption and resume through run.py: SIGTERM leaves last.ckpt and no metrics.json; resuming is exact."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import torch
from conftest import read_metrics, run_entry, start_entry

pytestmark = pytest.mark.slow  # run.py in subprocesses

# Four training batches an epoch, three epochs; the monitor improves every epoch, so `best` is the last.
TASKS = {
    "ner": ["task=ner", "model=tiny", "data.n_train=100", "data.n_val=16", "data.n_test=16"],
    "qa": [
        "task=qa",
        "model=tiny",
        "data.n_paragraphs_train=8",
        "data.n_paragraphs_val=3",
        "data.n_paragraphs_test=3",
        "task.datamodule.batch_size=24",
    ],
}
COMMON = ["trainer.max_epochs=2", "logger=none", "task.monitor=val/nll", "task.mode=min"]


def _drill(step: int) -> list[str]:
    """A callback (tests/support/drills.py) that sends the job a real SIGTERM after training step `step`."""
    return ["+callbacks.drill._target_=drills.SigtermAtStep", f"+callbacks.drill.step={step}"]


def _scores(run) -> dict[str, float]:
    return {k: v for k, v in read_metrics(run).items() if k.startswith(("val/", "test/"))}


def _last(run) -> dict:
    """The run's checkpoints/last.ckpt, read as data."""
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One uninterrupted run per task, shared by the cases that stop it at different steps."""
    runs = {}

    def get(task: str):
        if task not in runs:
            folder = tmp_path_factory.mktemp(f"whole-{task}")
            name, _, ddp = task.partition("-")
            extra = ["trainer=ddp_sim"] if ddp else []
            run_entry([*TASKS[name], *COMMON, *extra, f"hydra.run.dir={folder / 'run'}"], cwd=folder)
            runs[task] = folder / "run"
        return runs[task]

    return get


@pytest.mark.parametrize(("task", "step"), [("ner", 5), ("ner", 4), ("qa", 2)])
def test_sigterm_then_resume_gives_the_uninterrupted_metrics(tmp_path, uninterrupted, task, step):
    """Stopped mid-epoch (ner 5, qa 2) or on an epoch's last batch (ner 4): the same numbers, bit for bit."""
    args = [*TASKS[task], *COMMON]
    whole = uninterrupted(task)

    cut = tmp_path / "cut"
    stopped = run_entry([*args, *_drill(step), f"hydra.run.dir={cut}"], cwd=tmp_path, check=False)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert (cut / "checkpoints" / "last.ckpt").is_file()
    assert not (cut / "metrics.json").exists()
    assert "resume with ckpt_path=last" in stopped.stdout + stopped.stderr

    resumed = run_entry([*args, "ckpt_path=last", f"hydra.run.dir={cut}"], cwd=tmp_path)
    assert _scores(cut) == _scores(whole)
    # the training loader speaks Lightning's state protocol: no "not resumable … unreliable" warning
    assert "not resumable" not in resumed.stdout + resumed.stderr
    final = [_last(r)["state_dict"] for r in (whole, cut)]
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])


@pytest.mark.parametrize("every_rank", [False, True], ids=["rank0-signalled", "every-rank-signalled"])
def test_two_rank_sigterm_then_resume_gives_the_uninterrupted_metrics(tmp_path, uninterrupted, every_rank):
    """DDP (2 gloo ranks): the ranks stop after the same step without deadlocking, each keeps its own RNG
    streams (their batches differ in length, so dropout draws differ), and the resumed run is bit-exact.
    rank0-signalled: a SIGTERM to the launching process; every-rank-signalled: SLURM's preemption."""
    args = [*TASKS["ner"], *COMMON, "trainer=ddp_sim"]
    whole = uninterrupted("ner-ddp")
    cut = tmp_path / "cut"
    drill = [*_drill(3), f"+callbacks.drill.every_rank={every_rank}"]
    stopped = run_entry([*args, *drill, f"hydra.run.dir={cut}"], cwd=tmp_path, check=False, timeout=120)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    # saved at the end of the step the signal came in, where the ranks agreed; rank 1's streams beside it,
    # and those of the epoch-end save before (kept until a later checkpoint has its own)
    assert sorted(p.name for p in (cut / "checkpoints" / "rng").iterdir()) == [
        "rank1_step2.pt",
        "rank1_step3.pt",
    ]
    assert torch.load(cut / "checkpoints" / "last.ckpt", weights_only=True, mmap=True)["global_step"] == 3
    run_entry([*args, "ckpt_path=last", f"hydra.run.dir={cut}"], cwd=tmp_path)
    assert _scores(cut) == _scores(whole)
    final = [_last(r)["state_dict"] for r in (whole, cut)]
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])


def test_a_terminated_multirun_exits_non_zero_and_runs_no_further_job(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "smoothing=none,ls,gls", *TASKS["ner"], *COMMON, f"hydra.sweep.dir={sweep}"]
    proc = start_entry(args, tmp_path, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while not (sweep / "0" / "checkpoints").is_dir():  # job 0 is training
        assert proc.poll() is None and time.monotonic() < deadline, "job 0 never started training"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 143, out[-3000:]
    assert not (sweep / "0" / "metrics.json").exists()
    assert not (sweep / "1").exists()  # the sweep stopped: jobs 1 and 2 never ran
    # and says so, job by job, the ones it never started included
    assert f"multirun {sweep}: 0 of 3 jobs finished" in out
    assert "NO RESULT job 0 [smoothing=none" in out
    assert "NOT STARTED job [smoothing=ls" in out and "NOT STARTED job [smoothing=gls" in out


def test_a_signal_during_data_preparation_stops_the_job_within_seconds(tmp_path):
    """SIGTERM while the data is generated and tokenised (before any training): exit 143 in a few seconds
    (SLURM's grace before SIGKILL is 30 s), no metrics.json, no half-built cache folder."""
    run = tmp_path / "run"
    args = ["task=ner", "model=tiny", "data.n_train=40000", "logger=none", f"hydra.run.dir={run}"]
    proc = start_entry(args, tmp_path, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    log = run / "run.log"
    while not (log.is_file() and "Seed set to" in log.read_text()):  # the job runs: its handlers are set
        assert proc.poll() is None and time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the data preparation (tens of seconds for 40,000 sentences)
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out[-3000:]
    assert time.monotonic() - signalled < 5, "the signal waited for the data preparation to end"
    assert not (run / "metrics.json").exists() and not (run / "checkpoints").exists()
    # a cache folder is published whole or not at all (a stopped build leaves only a .<key>.tmp-* folder)
    for params in (tmp_path / "data" / "conll_synthetic").glob("*/params.json"):
        assert {p.name for p in params.parent.iterdir()} == {
            "eng.train",
            "eng.testa",
            "eng.testb",
            "params.json",
        }


def test_a_sigterm_during_the_final_test_of_a_two_rank_run_exits_143_within_seconds(tmp_path):
    """Lightning puts its own SIGTERM handler back for trainer.test, and it broadcasts from inside the
    handler: a signal that lands while the ranks gather evaluation outputs deadlocked. The job's handler
    is back for the final validate and test too: rank 0 stops at once and passes the signal to rank 1."""
    run, stamp = tmp_path / "run", tmp_path / "signalled"
    args = [*TASKS["ner"], *COMMON, "trainer=ddp_sim", f"hydra.run.dir={run}"]
    drill = ["+callbacks.drill._target_=drills.SigtermInTest", f"+callbacks.drill.stamp={stamp}"]
    proc = start_entry([*args, *drill], tmp_path, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the hang this test is about: its ranks go with it
        out, _ = proc.communicate()
    ended = time.time()
    assert proc.returncode == 143, out[-3000:]
    assert ended - float(stamp.read_text()) < 10, "the stop waited (or hung) in the final test"
    assert not (run / "metrics.json").exists()


def test_a_stop_in_the_final_test_resumes_to_the_same_metrics_without_training(tmp_path, uninterrupted):
    """A time limit or preemption that lands in the final evaluation (training over, its epoch-end last.ckpt
    saved): the job stops with no metrics.json, and the resume only evaluates, to the same numbers. On
    SLURM this is the allocation after the one that finished training (tests/test_slurm.py, a slow CI)."""
    args = [*TASKS["ner"], *COMMON]
    cut, stamp = tmp_path / "cut", tmp_path / "signalled"
    drill = ["+callbacks.drill._target_=drills.SigtermInTest", f"+callbacks.drill.stamp={stamp}"]
    stopped = run_entry([*args, *drill, f"hydra.run.dir={cut}"], cwd=tmp_path, check=False)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert stamp.is_file() and not (cut / "metrics.json").exists()
    whole = uninterrupted("ner")
    saved = _last(cut)["global_step"]
    assert saved == _last(whole)["global_step"]

    run_entry([*args, "ckpt_path=last", f"hydra.run.dir={cut}"], cwd=tmp_path)
    assert _scores(cut) == _scores(whole)
    assert _last(cut)["global_step"] == saved  # nothing was trained again
