"""What metrics.json says produced a run: the commit, and whether the code that ran differs from it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from labelsmooth.run.provenance import git_state


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True)


def test_a_checkout_is_dirty_when_its_code_changed_not_when_its_results_store_grew(
    tmp_path, tmp_path_factory
):
    code, runs = tmp_path / "run.py", tmp_path / "experiments" / "results" / "runs.jsonl"
    runs.parent.mkdir(parents=True)
    code.write_text("a = 1\n")
    runs.write_text("")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "x")
    commit, dirty = git_state(tmp_path)
    assert len(commit) == 40 and dirty is False
    runs.write_text(
        '{"sweep": "toy"}\n'
    )  # labelsmooth-claims collected a batch: the same code runs the next one
    assert git_state(tmp_path) == (commit, False)
    code.write_text("a = 2\n")
    assert git_state(tmp_path) == (commit, True)
    assert git_state(tmp_path_factory.mktemp("not_a_checkout")) == (None, None)
