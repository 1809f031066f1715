"""Where `labelsmooth-claims run` keeps a sweep's batches: outputs/claims/<sweep>/, held by one run at a time
(its file lock, and an owner file naming the run), with one new folder per batch under jobs/."""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from labelsmooth.analysis.claims_file import Claim
from labelsmooth.atomic import write_atomic

# In outputs/claims/<sweep>/, held by the claims run of that sweep (apart from a run folder's .run.lock).
LOCK, OWNER = ".claims-run.lock", ".claims-run.owner"


@contextmanager
def sweep_lock(folder: Path, claims: list[Claim]) -> Iterator[None]:
    """Hold the sweep folder's run lock, or stop at once naming the claims and the run that holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    # A real flock or a refusal (no soft marker), not per thread: one holder per process and sweep.
    lock = FileLock(str(folder / LOCK), timeout=0, thread_local=False, fallback_to_soft=False)
    try:
        lock.acquire()
    except Timeout:
        owner = folder / OWNER
        holder = owner.read_text(encoding="utf-8").strip() if owner.is_file() else "?"
        raise SystemExit(
            f"claims run {' '.join(c.id for c in claims)}: sweep {folder.name} is being run by another "
            f"`labelsmooth-claims run` ({holder}); wait for it to end"
        ) from None
    try:
        since = datetime.now(UTC).isoformat(timespec="seconds")
        command = shlex.join(["labelsmooth-claims", *sys.argv[1:]])
        write_atomic(
            folder / OWNER, f"pid {os.getpid()} on {socket.gethostname()} since {since}: {command}\n"
        )
        yield
    finally:
        (folder / OWNER).unlink(missing_ok=True)
        lock.release()


def batch_folder(jobs: Path, seeds: list[int]) -> Path:
    """A new folder for one batch: its start (UTC, to the second) and seeds, with -2, -3, ... after the
    stamp when a batch of the same seeds started in the same second (created here, so never shared)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    jobs.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10**6):
        folder = jobs / f"{stamp}{f'-{n}' if n > 1 else ''}_seeds{seeds[0]}-{seeds[-1]}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise SystemExit(f"{jobs}: no free batch folder for {stamp}")
