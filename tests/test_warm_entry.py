"""run_entry's pre-imported run.py (tests/warm_entry.py): a forked run is the run `python run.py` gives —
metrics, files, log lines, exit codes — and a run past its timeout is killed without taking the server."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import TINY_NER, WarmEntry, run_entry

pytestmark = pytest.mark.slow  # every test here runs run.py in a subprocess


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _lines(text: str, folder: Path) -> list[str]:
    """Log lines without their time stamps, the progress bars' times, speeds and widths (which vary with
    the machine's speed), and the run's own folder."""
    text = text.replace(str(folder), "RUN")
    text = re.sub(r"^\[\d{4}-\d\d-\d\d [\d:,]+\]", "", text, flags=re.M)
    text = re.sub(r"\d+:\d\d:\d\d", "T", re.sub(r"[\d.]+it/s", "it/s", text))
    return [re.sub("━+", "━", line) for line in text.splitlines()]


def test_a_forked_run_gives_what_a_new_python_run_py_gives(tmp_path, monkeypatch):
    args = [*TINY_NER, "logger=csv"]
    forked = WarmEntry.counts["forked"]
    warm = run_entry([*args, "hydra.run.dir=warm"], cwd=tmp_path)
    assert WarmEntry.counts["forked"] == forked + 1  # it took the forked path
    assert WarmEntry.server is not None and WarmEntry.server.poll() is None
    monkeypatch.setenv("LABELSMOOTH_TESTS_COLD", "1")
    cold = run_entry([*args, "hydra.run.dir=cold"], cwd=tmp_path)

    def metrics(name: str) -> dict:
        m = json.loads((tmp_path / name / "metrics.json").read_text())
        assert m.pop("best_checkpoint").startswith(str(tmp_path / name))
        assert m["run"].pop("command").endswith(f"hydra.run.dir={name}")
        return m

    assert metrics("warm") == metrics("cold")  # bit-identical, and the same provenance
    assert _files(tmp_path / "warm") == _files(tmp_path / "cold")
    assert _lines(warm.stdout, tmp_path / "warm") == _lines(cold.stdout, tmp_path / "cold")
    assert _lines(warm.stderr, tmp_path / "warm") == _lines(cold.stderr, tmp_path / "cold")


def test_a_forked_run_exits_as_python_run_py_does_and_a_timeout_kills_only_it(tmp_path, monkeypatch):
    bad = run_entry(["smoothing=nope"], cwd=tmp_path, check=False)
    with pytest.raises(subprocess.TimeoutExpired):
        run_entry([*TINY_NER, "logger=none", "hydra.run.dir=slow"], cwd=tmp_path, timeout=1)
    server = WarmEntry.server
    again = run_entry(["--help"], cwd=tmp_path)  # the server outlived its killed child
    assert WarmEntry.server is server and "task: image, ner, qa" in again.stdout
    monkeypatch.setenv("LABELSMOOTH_TESTS_COLD", "1")
    cold = run_entry(["smoothing=nope"], cwd=tmp_path, check=False)
    assert bad.returncode == cold.returncode == 1
    assert bad.stderr == cold.stderr and "smoothing/nope" in bad.stderr


def test_a_run_under_another_environment_gets_a_server_imported_under_it(tmp_path, monkeypatch):
    run_entry(["--help"], cwd=tmp_path)
    server, imports = WarmEntry.server, WarmEntry.counts["imports"]
    run_entry(["--help"], cwd=tmp_path)
    assert WarmEntry.server is server and WarmEntry.counts["imports"] == imports  # the same one serves
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read at import by huggingface_hub
    run_entry(["--help"], cwd=tmp_path)
    assert WarmEntry.server is not server and WarmEntry.counts["imports"] == imports + 1
    assert server.poll() is not None  # the old one was closed, not left behind
    assert WarmEntry.env["HF_HUB_OFFLINE"] == "1"
