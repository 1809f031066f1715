"""Run-folder locks that hold where flock does not see every holder: an owner record of another host is
refused (node-local flock on NFS/Lustre cannot see it), a dead holder's record on this host is stale; the
data cache's build lock never waits forever."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from filelock import FileLock

import labelsmooth.data.cache as cache
from labelsmooth.run.folder import OWNER, FolderRefused, locked


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


def test_a_record_of_another_host_is_refused_though_the_flock_is_free(tmp_path):
    (tmp_path / OWNER).write_text("pid 77 on node-b17 since 2026-12-06 10:00:00: run.py task=qa\n")
    with (
        pytest.raises(FolderRefused, match="a run on another host holds it .*pid 77 on node-b17"),
        locked(tmp_path),
    ):
        pass
    assert (tmp_path / OWNER).read_text().startswith("pid 77 on node-b17")  # not taken over


def test_a_dead_holders_record_on_this_host_is_stale_and_a_live_one_is_not(tmp_path):
    (tmp_path / OWNER).write_text(f"pid {_dead_pid()} on {socket.gethostname()} since then: run.py\n")
    with locked(tmp_path):
        assert (tmp_path / OWNER).read_text().startswith(f"pid {os.getpid()} on ")
    assert not (tmp_path / OWNER).exists()
    (tmp_path / OWNER).write_text(f"pid {os.getppid()} on {socket.gethostname()} since then: run.py\n")
    with pytest.raises(FolderRefused, match="another run is using it"), locked(tmp_path):
        pass


def test_the_cache_build_lock_gives_up_with_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "BUILD_WAIT_S", 0.2)
    root = tmp_path / "cache"
    key = cache.cache_key({"x": 1})
    root.mkdir()
    with FileLock(str(root / f".{key}.lock")), pytest.raises(TimeoutError, match=rf"\.{key}\.lock: waited"):
        cache.cached_dir(root, {"x": 1}, lambda folder: None)


def test_a_requeued_slurm_job_takes_over_its_own_earlier_allocations_record(tmp_path, monkeypatch):
    """SIGKILLed at its time limit on one node, requeued onto another: the record is its own."""
    (tmp_path / OWNER).write_text("pid 77 on node-b17 (SLURM job 4242) since then: run.py\n")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    with locked(tmp_path):
        assert "(SLURM job 4242)" in (tmp_path / OWNER).read_text()
    monkeypatch.setenv("SLURM_JOB_ID", "4243")
    (tmp_path / OWNER).write_text("pid 77 on node-b17 (SLURM job 4242) since then: run.py\n")
    with pytest.raises(FolderRefused, match="another host"), locked(tmp_path):
        pass
