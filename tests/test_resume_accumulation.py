"""Exact resume with gradient accumulation (the BERT-large and ALBERT-xlarge recipes accumulate 2 and 3):
last.ckpt is written only where an optimiser step ended, never inside an accumulation window, whose partial
gradients no checkpoint holds; a stop inside a window waits for the window's step."""

from __future__ import annotations

import re
import signal

import pytest
import torch
from conftest import read_metrics, run_entry

pytestmark = pytest.mark.slow  # run.py in subprocesses

# 200 sentences in batches of 32: 7 micro-batches an epoch; accumulating 3, steps end after batches 3, 6
# and 7 (the epoch's last), so 3 steps an epoch and 6 in all.
ACC = [
    "task=ner",
    "model=tiny",
    "data.n_train=200",
    "data.n_val=16",
    "data.n_test=16",
    "trainer.max_epochs=2",
    "trainer.accumulate_grad_batches=3",
    "trainer.log_every_n_steps=1",
    "task.monitor=val/nll",
    "task.mode=min",
    "logger=csv",
]


def _scores(run) -> dict[str, float]:
    return {k: v for k, v in read_metrics(run).items() if k.startswith(("val/", "test/"))}


def _saves(run) -> list[tuple[str, int]]:
    """(why, step) of every last.ckpt save the run logged, in order."""
    text = (run / "run.log").read_text()
    return [
        (why, int(step)) for why, step in re.findall(r"last\.ckpt \(([^)]+)\): epoch \d+, step (\d+)", text)
    ]


def test_a_stop_inside_an_accumulation_window_resumes_bit_identically(tmp_path):
    whole = tmp_path / "whole"
    run_entry([*ACC, f"hydra.run.dir={whole}"], cwd=tmp_path)
    cut = tmp_path / "cut"
    args = [*ACC, "callbacks.exact_resume.every_n_steps=1", f"hydra.run.dir={cut}"]
    # SIGTERM after micro-batch 4: inside the window of batches 4-6 (step 2).
    drill = ["+callbacks.drill._target_=drills.SigtermAtBatch", "+callbacks.drill.batch=4"]
    stopped = run_entry([*args, *drill], cwd=tmp_path, check=False)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    last = torch.load(cut / "checkpoints" / "last.ckpt", weights_only=True, mmap=True)
    assert last["global_step"] == 2  # the window's step, not step 1 with batch 4's gradients dropped
    run_entry([*args, "ckpt_path=last"], cwd=tmp_path)
    assert _scores(cut) == _scores(whole)
    # One save per step end asked for (every_n_steps=1), none inside a window, none twice at one step.
    assert _saves(cut) == [
        ("periodic", 1),
        ("stop request", 2),
        ("epoch end", 3),
        ("periodic", 4),
        ("periodic", 5),
        ("epoch end", 6),
    ]
