"""Checkpoints and results are written whole or not at all, with the user's umask (AtomicCheckpointIO)."""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
import threading

import pytest
import torch

from labelsmooth.atomic import atomic_dir, atomic_file, create_whole, write_atomic
from labelsmooth.run.checkpoints import AtomicCheckpointIO


def _good(path) -> dict:
    state = {"state_dict": {"w": torch.arange(10.0)}, "global_step": 3}
    AtomicCheckpointIO().save_checkpoint(state, path)
    return state


def test_a_write_that_fails_midway_leaves_the_previous_checkpoint_and_no_temporary_file(
    tmp_path, monkeypatch
):
    path = tmp_path / "last.ckpt"
    _good(path)
    before = path.read_bytes()

    def full_disk(obj, f) -> None:  # half the bytes, then the disk is full
        f.write(b"PK\x03\x04" + b"\0" * 4096)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_a_real_full_disk_leaves_the_previous_checkpoint(tmp_path):
    """A 1 MiB tmpfs (root only): the second checkpoint does not fit."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip() or 'not root'})")
    try:
        path = disk / "last.ckpt"
        state = _good(path)
        before = path.read_bytes()
        # torch's zip writer reports ENOSPC as OSError, or as a RuntimeError when it finishes the archive
        with pytest.raises((OSError, RuntimeError)):
            AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(1 << 19)}}, path)  # 2 MiB
        assert path.read_bytes() == before and sorted(p.name for p in disk.iterdir()) == ["last.ckpt"]
        assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], state["state_dict"]["w"])
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_an_exception_inside_the_block_keeps_the_old_file(tmp_path):
    path = tmp_path / "metrics.json"
    write_atomic(path, "old\n")
    with pytest.raises(KeyboardInterrupt), atomic_file(path, "w") as f:
        f.write("half")
        raise KeyboardInterrupt
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "metrics.json", "{}\n")
        _good(tmp_path / "best.ckpt")
    finally:
        os.umask(old)
    for name in ("metrics.json", "best.ckpt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_published_folder_is_whole_with_the_umask_modes(tmp_path, umask):
    """atomic_dir: the caches' and export's publisher — files and folders get the umask's modes (mkdtemp's
    0700 and mkstemp's 0600 do not survive), and the umask reader leaves the process umask as it was."""
    old = os.umask(umask)
    try:
        with atomic_dir(tmp_path / "model") as tmp:
            (tmp / "sub").mkdir()
            fd, private = tempfile.mkstemp(dir=tmp / "sub")  # 0600, as a library might write it
            os.close(fd)
            (tmp / "config.json").write_text("{}")
            assert not (tmp_path / "model").exists()  # nothing published while it is being built
        assert os.umask(umask) == umask  # unchanged by reading it
    finally:
        os.umask(old)
    out = tmp_path / "model"
    assert (out / "config.json").read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["model"]
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask
    assert (out / "sub").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (out / "sub" / os.path.basename(private)).stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_folder_build_publishes_nothing_and_leaves_no_temporary(tmp_path):
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "cache") as tmp:
        (tmp / "half.pt").write_bytes(b"PK")
        raise RuntimeError("build failed")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_is_published_over_an_empty_one_but_never_merged_into_a_full_one(tmp_path):
    (tmp_path / "empty").mkdir()
    with atomic_dir(tmp_path / "empty") as tmp:
        (tmp / "a").write_text("a")
    assert (tmp_path / "empty" / "a").read_text() == "a"
    with pytest.raises(OSError), atomic_dir(tmp_path / "empty") as tmp:
        (tmp / "b").write_text("b")
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def _race(path: str, text: str, barrier, results) -> None:
    barrier.wait()
    results.append(create_whole(path, text))


def test_create_whole_lets_one_of_many_creators_win_and_no_reader_sees_a_partial_file(tmp_path):
    """The job-folder mark of a multirun (two SLURM tasks start one job): `open(path, "x")` then a write
    showed the other task an empty file; create_whole shows the whole text or nothing."""
    path = tmp_path / ".job_overrides"
    texts = [f"task={i}\n" + "x" * 100_000 for i in range(8)]
    for _ in range(20):
        path.unlink(missing_ok=True)
        barrier, results = threading.Barrier(len(texts) + 1), []
        seen: list[str] = []
        threads = [threading.Thread(target=_race, args=(path, t, barrier, results)) for t in texts]
        for t in threads:
            t.start()
        barrier.wait()
        while any(t.is_alive() for t in threads):
            if path.exists():
                seen.append(path.read_text())
        for t in threads:
            t.join()
        assert sorted(results) == [False] * (len(texts) - 1) + [True]
        assert path.read_text() in texts and all(s in texts for s in seen)
        assert sorted(p.name for p in tmp_path.iterdir()) == [".job_overrides"]  # no temporary left


def test_a_file_system_that_cannot_fsync_a_folder_still_gets_the_file(tmp_path, monkeypatch):
    """Some FUSE mounts answer EINVAL to a folder fsync: the rename has happened, so the write succeeded."""
    real_fsync = os.fsync

    def fsync(fd):
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomic(tmp_path / "metrics.json", "{}\n")
    assert (tmp_path / "metrics.json").read_text() == "{}\n"
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError, match="I/O error"):  # a real failure is one
        write_atomic(tmp_path / "other.json", "{}\n")
