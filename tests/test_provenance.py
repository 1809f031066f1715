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
    runs.write_text('{"sweep": "toy"}\n')  # a claims batch was collected: the same code runs the next
    assert git_state(tmp_path) == (commit, False)
    (tmp_path / "docs.md").write_text("notes")  # outside the code: still the code of the commit
    assert git_state(tmp_path) == (commit, False)
    # An untracked recipe in the config tree changes what runs: dirty.
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "new.yaml").write_text("seed: 1\n")
    assert git_state(tmp_path) == (commit, True)
    (tmp_path / "conf" / "experiment" / "new.yaml").unlink()
    code.write_text("a = 2\n")
    assert git_state(tmp_path) == (commit, True)
    assert git_state(tmp_path_factory.mktemp("not_a_checkout")) == (None, None)


def test_an_installed_copy_reports_no_checkout_even_inside_one(tmp_path, monkeypatch):
    """A wheel installed into a virtual environment that lies inside some checkout: that checkout's commit
    is not what runs. Only a package at <checkout>/src/labelsmooth (an editable install) has one."""
    import labelsmooth.run.provenance as provenance

    site = tmp_path / ".venv" / "lib" / "site-packages" / "labelsmooth" / "run"
    site.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.setattr(provenance, "__file__", str(site / "provenance.py"))
    assert provenance.checkout_root() is None
    src = tmp_path / "src" / "labelsmooth" / "run"
    src.mkdir(parents=True)
    monkeypatch.setattr(provenance, "__file__", str(src / "provenance.py"))
    assert provenance.checkout_root() == tmp_path
