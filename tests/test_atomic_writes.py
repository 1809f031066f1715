"""Checkpoints and results are written whole or not at all, with the user's umask (AtomicCheckpointIO)."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest
import torch

from labelsmooth.checkpoint_io import AtomicCheckpointIO
from labelsmooth.outputs import atomic_file, write_atomic


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
