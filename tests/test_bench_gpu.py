"""bench_gpu.py runs on CPU with a tiny BERT (no timing asserted; on CPU MFU is n/a)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_tiny_bert_trains_on_cpu_and_reports_tokens_per_second():
    cmd = [sys.executable, "benchmarks/bench_gpu.py", "--tiny", "--cpu", "--steps", "2", "--warmup", "1"]
    cmd += ["--batch-size", "2", "--seq-len", "8"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True, timeout=300).stdout
    assert "BERT-tiny token classification" in out and "fused AdamW" in out
    loss = re.search(r"final loss (\S+);", out)
    assert loss and math.isfinite(float(loss.group(1))), out
    assert re.search(r"^tokens/s: [\d,]+$", out, re.MULTILINE), out
    assert out.strip().splitlines()[-1].endswith(": n/a")


def test_peak_table_and_override():
    import torch

    peak_flops = load_script("benchmarks/bench_gpu.py").peak_flops

    assert peak_flops(torch.device("cpu"), None) == (None, "cpu")
    assert peak_flops(torch.device("cpu"), 1e15) == (1e15, "--peak-flops")
