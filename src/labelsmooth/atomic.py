"""The one way this project publishes a file or a folder: whole, or not at all.

Every writer of a result goes through here: checkpoints (run/checkpoints.py), metrics.json, the per-item
score files, predictions, the data caches (data/cache.py), the results store and exported models. The
rule is the same for a file and a folder: build it under a temporary name in the destination's own folder
(a rename across file systems would be a copy under the final name), fsync its data, give it the
permissions the user's umask gives any new file (mkstemp and mkdtemp make it private), rename it into
place, then fsync the parent folder so the rename survives a crash. On any error, a full disk or a kill,
the destination keeps its previous content and the temporary file or folder is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process umask, read without changing it where the OS tells it (Linux's /proc), else by the
    classic set-and-restore (other POSIX systems)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode(mode: int = 0o666) -> int:
    """`mode` as the user's umask lets a new file have it (what `open(path, "w")` would give)."""
    return mode & ~current_umask()


def fsync_dir(folder: str | Path) -> None:
    """Make a rename inside `folder` durable. A file system that cannot fsync a folder (some FUSE mounts
    answer EINVAL) has already done the rename: it is not an error there."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (22, 95):  # EINVAL, EOPNOTSUPP: folder fsync not supported
            raise
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """A file object whose content replaces `path` all at once, or not at all (see the module's rule)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` all or nothing (see `atomic_file`)."""
    with atomic_file(path, "w") as f:
        f.write(text)


def create_whole(path: str | Path, text: str) -> bool:
    """Create `path` holding `text`, only if it does not exist; False if it does. Other processes see
    either no file or the whole text, never an empty or partial one (`open(path, "x")` then a write
    shows a reader the empty file in between): the text is written to a temporary file that is then
    hard-linked to `path`, and the link fails when `path` exists."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def write_compact_json(value: Any, path: str | Path) -> None:
    """`value` as compact JSON at `path`, all or nothing (the per-item score files: thousands of numbers)."""
    write_atomic(path, json.dumps(value, separators=(",", ":")))


def _fsync_tree(folder: Path) -> None:
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


def _apply_umask(folder: Path) -> None:
    """Files and folders built under mkdtemp get what the umask gives new ones (the builder may have used
    mkstemp or copied private files)."""
    folder.chmod(umask_mode(0o777))
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), umask_mode(0o777))
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), umask_mode())


def temp_dir_for(path: Path) -> Path:
    """A new empty private folder beside `path` (`.<name>.tmp-*`) to build it in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """An empty folder to fill; on leaving the block it is published as `path` in one rename.

    `path` must not exist (a published folder is never replaced in place: readers may hold it). Its files
    are fsynced and given the umask's permissions before the rename; on any error nothing is published and
    the temporary folder is removed.
    """
    path = Path(path)
    tmp = temp_dir_for(path)
    try:
        yield tmp
        _fsync_tree(tmp)
        _apply_umask(tmp)
        os.rename(tmp, path)  # fails if `path` exists as a non-empty folder: never merge into a result
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(path.parent)


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (what ties metrics.json to its checkpoint, and keys data caches)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
