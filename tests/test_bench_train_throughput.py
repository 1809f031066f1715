"""bench_train_throughput.py runs with a tiny model (no timing asserted: the speed is its to tell)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_both_paths_train_and_the_last_line_is_the_ratio():
    pytest.importorskip("accelerate", reason="transformers.Trainer needs accelerate")
    cmd = [sys.executable, "benchmarks/bench_train_throughput.py", "--tiny", "--rounds", "1", "--steps", "4"]
    cmd += ["--warmup", "1", "--batch-size", "8", "--profile", "--op-profile"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert re.fullmatch(r"train throughput ratio \(lab / HF Trainer\): \d+\.\d\d", lines[-1]), lines[-1]
    assert float(lines[-1].rsplit(" ", 1)[1]) > 0
    for name in ("lab \\(Lightning\\)", "HF Trainer"):
        speed = re.search(rf"^{name} +train examples/s +(\d+\.\d)", proc.stdout, re.MULTILINE)
        assert speed and float(speed.group(1)) > 0, proc.stdout
        loss = re.search(rf"^{name} +training loss per round .*: (\S+)$", proc.stdout, re.MULTILINE)
        assert loss and math.isfinite(float(loss.group(1))) and float(loss.group(1)) > 0, proc.stdout
        mfu = re.search(rf"^{name} +train MFU % +(\d+\.\d)", proc.stdout, re.MULTILINE)
        assert mfu and 0 < float(mfu.group(1)) < 100, proc.stdout
    peak = re.search(r"^peak: +(\d+\.\d) .*GFLOP/s \(2048² fp32 torch.mm", proc.stdout, re.MULTILINE)
    assert peak and float(peak.group(1)) > 0, proc.stdout
    # the op groups' shares and the time no op ran make up the whole step
    ops = proc.stdout.split("ops of the lab's")[1].split("largest of the other ops")[0]
    assert "GEMM (mm, addmm, bmm)" in ops and "no op running" in ops
    op_shares = [float(x) for x in re.findall(r" (-?\d+\.\d) %$", ops, re.MULTILINE)][1:]
    assert len(op_shares) == 8 and abs(sum(op_shares) - 100) < 0.5, ops
    assert "HF Trainer optimiser (its default): adamw" in proc.stdout
    assert "encoder packed (real tokens only)" in proc.stdout  # the lab's default
    assert re.search(r"^  optimizer.step \(AdamW\) +\d+\.\d ms", proc.stdout, re.MULTILINE), proc.stdout
