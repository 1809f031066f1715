"""The benchmark scripts run end to end (a few rounds, no timing asserted: speed is theirs to report)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_smoothing_reports_every_loss_against_its_reference():
    cmd = [sys.executable, "benchmarks/bench_smoothing.py", "--rounds", "3", "--inner", "1", "--no-minilm"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True, timeout=300).stdout
    for shape in ("NER tags 32×128×9", "QA pointer 32×384"):
        section = out.split(shape, 1)[1]
        rows = (("none", "ce"), ("ls(0.1)", "ce_ls"), ("gls(0.1,σ=1)", "ce"), ("kd(T=2,w=0.5)", "ce"))
        for name, ref in rows:
            row = re.search(rf"^  {re.escape(name)} .*$", section, re.MULTILINE)
            assert row, f"{shape}: no row for {name}"
            ratios = re.findall(rf"(\d+\.\d+)× {ref}\b", row.group(0))
            assert len(ratios) == 2 and all(float(r) > 0 for r in ratios), row.group(0)
        assert re.search(r"gls targets alone +\d+ µs", section)


@pytest.mark.slow
def test_bench_padding_reports_before_and_after_for_each_case(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "bench_padding.py"),
        "--tiny",
        "--data-dir",
        str(tmp_path),
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True, timeout=300).stdout
    rows = re.findall(r"train +(\d+\.\d) % -> +(\d+\.\d) % +eval +(\d+\.\d) % -> +(\d+\.\d) %", out)
    assert len(rows) == 3, out
    for before_train, after_train, before_eval, after_eval in rows:
        # grouping by length can only remove padding, never add it
        assert float(after_train) <= float(before_train) and float(after_eval) <= float(before_eval)


@pytest.mark.slow
def test_bench_sweep_splits_the_sweeps_wall_time_into_phases():
    from conftest import TINY_NER

    epochs, jobs = 2, 2
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_sweep.py"), "--rounds", "1"]
    cmd += [o for o in TINY_NER if o not in ("task=ner", "trainer.max_epochs=1")]  # the sweep's own task=ner
    cmd.append(f"trainer.max_epochs={epochs}")
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True, timeout=600).stdout
    wall = re.search(r"^sweep wall time: median (\d+\.\d) s", out.strip().splitlines()[-1])
    assert wall, out
    phases = dict(re.findall(r"^(\S.*?) +(\d+\.\d\d) +\(", out, re.MULTILINE))
    for name in (
        "python start-up",
        "data: generate, read, tokenise or cached",
        "final test",
        "W&B: init, log, finish",
    ):
        assert float(phases[name]) > 0, (name, out)
    # exclusive phases: together they are the wall time the parent measured (its own spawn and wait aside)
    assert abs(sum(map(float, phases.values())) - float(wall.group(1))) < 0.5, out
    assert re.search(r"^job 0: test F1 \d+\.\d\d; job 1: test F1 \d+\.\d\d$", out, re.MULTILINE), out

    # Every encoder pass is counted, in the phase it ran in: each epoch's training steps see the same
    # training split, each validation the whole val split. Fit validates once per epoch, and its end
    # projects val's penultimate activations (PenultimateProjection): one more val pass, whole because
    # 16 sentences never fill its three classes' max_points // 3.
    tokens = {
        key: int(n.replace(",", ""))
        for key, n in re.findall(r"^  (.+?): \S+ TFLOP, ([\d,]+) tokens$", out, re.MULTILINE)
    }
    fit = "training (fit, with its per-epoch validation)"
    steps, val = tokens[f"{fit} | training steps"], tokens["final validate | evaluation"]
    assert steps > 0 and steps % (jobs * epochs) == 0, out
    assert val > 0 and tokens[f"{fit} | evaluation"] == (epochs + 1) * val, out
    assert tokens["final test | evaluation"] > 0, out
    floor = re.search(r"^arithmetic floor .*: (\d+\.\d) \(", out, re.MULTILINE)
    mfu = re.search(r"^MFU of training .*: (\d+\.\d) \(", out, re.MULTILINE)
    assert floor and mfu and 0 < float(mfu.group(1)) <= 100, out
