"""bench_qa_postprocess.py runs end to end on a few questions and checks its two post-processors agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_reports_same_answers_and_a_median_speed_up():
    cmd = [sys.executable, "benchmarks/bench_qa_postprocess.py", "--questions", "40", "--rounds", "2"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True, timeout=300).stdout
    assert "same answers: True" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"speed-up \(loop / vectorised\): \d+\.\dx median over 2 rounds \(range \S+\)", last)
