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
    cmd += ["--warmup", "1", "--batch-size", "8", "--profile"]
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
    assert "HF Trainer optimiser (its default): adamw" in proc.stdout
    assert "encoder packed (real tokens only)" in proc.stdout  # the lab's default
    assert re.search(r"^  optimizer.step \(AdamW\) +\d+\.\d ms", proc.stdout, re.MULTILINE), proc.stdout
