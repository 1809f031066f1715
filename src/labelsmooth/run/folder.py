"""One run per folder: a lock, no new run over another's result, a resume that first invalidates the old
result and refuses settings that changed since its checkpoint.

A run folder is the lab's unit of truth: `metrics.json` says the run finished, and predict, export, a KD
teacher and the verdicts take its checkpoints on that word. So
- a run holds a lock on its folder while it runs (rank 0; the lock dies with the process, also SIGKILL),
  and a second run into it stops with one line naming the holder;
- a new run (not a resume) into a folder holding a result (metrics.json) or an unfinished run
  (checkpoints/last.ckpt) stops with one line, or with `rerun=true` first moves that content aside into
  `superseded/<time>/` (its `.hydra/` renamed `hydra/`, so sweep readers no longer count it as a job);
- in a multirun each job marks its folder with its overrides (`mark_job_folder`): two jobs that map to one
  folder stop with one line instead of overwriting each other;
- a resume deletes the old metrics.json before it writes any checkpoint, so a folder never shows one
  run's metrics beside another's weights; metrics.json records its checkpoint's SHA-256 (run/metrics_file.py);
- a resume continues only this folder's own run, with the settings it was trained with: run/settings.py.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from hydra.core.hydra_config import HydraConfig

from labelsmooth.atomic import atomic_dir, create_whole, write_atomic
from labelsmooth.run.metrics_file import ERROR, METRICS
from labelsmooth.run.neutral import neutral_override
from labelsmooth.run.provenance import checkout_root
from labelsmooth.run.signals import STOP

log = logging.getLogger(__name__)

LOCK, OWNER = ".run.lock", ".run.owner"
RUN_LOG = "run.log"  # the job's log (conf/hydra: job.name run)
SNAPSHOT = ".hydra.kept"  # this run's config, copied (snapshot_config)
LAST = Path("checkpoints") / "last.ckpt"
SUPERSEDED = "superseded"


class FolderRefused(ValueError):
    """A run may not use this folder (busy, or holding another run's result): nothing of it is the
    refused run's, so the refused run writes nothing there (no error.txt: hydra_callbacks.FailureReport)."""


def check_location(folder: Path, key: str) -> None:
    """A run folder never inside the checkout's code (src/, conf/, .git/) nor the checkout itself, where
    a run's files would mix with the project's (and `git status` would list them)."""
    root = checkout_root()
    if root is None:
        return
    where, root = folder.expanduser().resolve(), root.resolve()
    if where == root or any(where.is_relative_to(root / part) for part in ("src", "conf", ".git")):
        raise FolderRefused(
            f"{key}={folder}: a run folder inside the project's own code or at the checkout's root "
            f"({root}); choose a folder under outputs/ or elsewhere"
        )


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold `folder`'s lock for this process, or stop with one line naming the run that holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    # A real flock or a refusal: no silent soft marker where the file system has no flock.
    lock = FileLock(str(folder / LOCK), fallback_to_soft=False)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        raise FolderRefused(
            f"run folder {folder}: another run is using it ({_holder(folder)}); wait for it, or choose "
            "another folder"
        ) from None
    try:
        _check_no_other_host(folder)
    except BaseException:
        lock.release()
        raise
    try:
        since = time.strftime("%Y-%m-%d %H:%M:%S")
        job = f" (SLURM job {os.environ['SLURM_JOB_ID']})" if os.environ.get("SLURM_JOB_ID") else ""
        write_atomic(
            folder / OWNER,
            f"pid {os.getpid()} on {socket.gethostname()}{job} since {since}: {' '.join(sys.argv)}\n",
        )
        yield
    finally:
        (folder / OWNER).unlink(missing_ok=True)
        lock.release()


def _holder(folder: Path) -> str:
    owner = folder / OWNER
    return owner.read_text(encoding="utf-8").strip() if owner.is_file() else "?"


def _check_no_other_host(folder: Path) -> None:
    """The flock is ours, yet an owner record may remain: left by a holder that was SIGKILLed (its lock
    died with it), or written by a run on another host where flock is node-local (NFS `local_lock=flock`,
    Lustre `localflock`) and so cannot see it. A record of this host whose process is gone is stale; one of
    another host cannot be proved dead from here, so it is refused."""
    record = _holder(folder)
    found = re.match(r"pid (\d+) on (\S+) ", record)
    if found is None:
        return  # no record (or an unreadable one): nothing to contradict the lock
    pid, host = int(found.group(1)), found.group(2)
    job = re.search(r"\(SLURM job (\S+)\)", record)
    if job is not None and job.group(1) == os.environ.get("SLURM_JOB_ID"):
        return  # this SLURM job's own earlier allocation (requeued, perhaps onto another node)
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return  # that run is gone; its record is stale
        except PermissionError:
            pass  # alive, another user's
        if pid == os.getpid():
            return
        raise FolderRefused(f"run folder {folder}: another run is using it ({record}); wait for it")
    raise FolderRefused(
        f"run folder {folder}: {folder / OWNER} says a run on another host holds it ({record}), which this "
        f"host's file lock cannot see; if that run has ended, delete {folder / OWNER}"
    )


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary checkpoint files (`.last.ckpt.<random>.tmp`, GBs for BERT-large) that a writer killed
    mid-write left behind. Called under the folder's lock, so no writer of them is alive."""
    for tmp in [*(folder / "checkpoints").glob(".*.tmp"), *(folder / "checkpoints" / "rng").glob(".*.tmp")]:
        tmp.unlink(missing_ok=True)
        log.info("removed %s, left by a checkpoint write that was killed", tmp)


def prepare_folder(folder: Path, resuming: bool, rerun: bool, live: bool = False) -> None:
    """Check what `folder` holds before a run writes into it (see the module docstring). `live`: the job's
    own `.hydra/` and `run.log` are already there (a multirun job: Hydra writes them before the task runs),
    so a rerun moves the earlier run's files around them (`move_aside`)."""
    remove_stale_temporaries(folder)
    result, unfinished = folder / METRICS, folder / LAST
    if resuming:
        if result.is_file():
            result.unlink()
            log.info("resume: %s removed; the resumed run writes its own when it finishes", result)
        return
    if not (result.is_file() or unfinished.is_file()):
        return
    held = (
        "a finished result (metrics.json)"
        if result.is_file()
        else "an unfinished run (checkpoints/last.ckpt)"
    )
    if not rerun:
        if live:
            restore_config(folder)
        hint = "" if result.is_file() else "resume it with ckpt_path=last, or "
        raise FolderRefused(
            f"run folder {folder}: holds {held}; {hint}start over there with rerun=true (moves it into "
            f"{SUPERSEDED}/), or choose another folder"
        )
    move_aside(folder, live)


JOB_MARK = ".job_overrides"


# Set for each multirun launch (hydra_callbacks.SweepFolderCheck); its jobs, local or on SLURM, inherit it.
MULTIRUN_ID = "LABELSMOOTH_MULTIRUN"


def mark_job_folder(rerun: bool) -> None:
    """One folder per job of a multirun. A `hydra.sweep.subdir` that leaves out a swept key (a recipe's
    `${smoothing}_seed${seed}` plus `x=a,b` on the command line) sends two jobs to one folder, where the
    second overwrites the first's results; the second job stops here instead, naming both. A requeue or a
    rerun of the same job (the same result-changing overrides) may use its folder again, and so may a job
    of a later multirun with `rerun=true` (which supersedes the earlier run there)."""
    if not HydraConfig.initialized() or HydraConfig.get().mode.name != "MULTIRUN":
        return
    hydra = HydraConfig.get()
    mine = "\n".join(o for o in hydra.overrides.task if not neutral_override(o))
    launch = f"multirun: {os.environ.get(MULTIRUN_ID, '?')}"
    mark = Path(hydra.runtime.output_dir) / JOB_MARK
    if create_whole(mark, f"{launch}\n{mine}"):  # of two jobs (or SLURM tasks) at once, one creates it, whole
        return
    text = mark.read_text(encoding="utf-8")
    their_launch, theirs = text.partition("\n")[::2] if text.startswith("multirun: ") else ("", text)
    if theirs == mine:
        (mark.parent / ERROR).unlink(missing_ok=True)  # a rerun: its earlier failure is no longer the state
    elif their_launch != launch:
        # An earlier launch's job: the folder's own rule decides (prepare_folder: a result or an unfinished
        # run is refused, or moved aside with rerun=true). This job marks the folder only where it may run.
        holds = (mark.parent / METRICS).is_file() or (mark.parent / LAST).is_file()
        if rerun or not holds:
            write_atomic(mark, f"{launch}\n{mine}")
    else:
        restore_config(mark.parent)  # Hydra wrote this job's config over the other job's
        raise FolderRefused(
            f"hydra.sweep.subdir: jobs [{' '.join(theirs.split())}] and [{' '.join(mine.split())}] map to "
            f"one folder, {mark.parent}; name every swept key in hydra.sweep.subdir (or use its default)"
        )


def move_aside(folder: Path, live: bool = False) -> Path:
    """Move what `folder` holds (but the current job's `.hydra/`, the lock and earlier superseded runs) into
    `folder/superseded/<time>/`."""
    with STOP.held():  # a stop signal waits until every file is moved: never half a run in each place
        return _move_aside(folder, live)


def _move_aside(folder: Path, live: bool) -> Path:
    target = folder / SUPERSEDED / time.strftime("%Y-%m-%d_%H-%M-%S")
    target.mkdir(parents=True)
    keep = {SUPERSEDED, ".hydra", LOCK, OWNER} | ({RUN_LOG, JOB_MARK} if live else set())
    for entry in folder.iterdir():
        if entry.name not in keep:
            shutil.move(str(entry), target / entry.name)
    # The earlier run's config, under a name sweep readers do not match: its `.hydra/` itself for a single
    # run (moved before Hydra writes the new one), else the copy it kept of it (`snapshot_config`).
    if not live and (folder / ".hydra").is_dir():
        shutil.copytree(folder / ".hydra", target / "hydra")
    elif (target / SNAPSHOT).is_dir():
        (target / SNAPSHOT).rename(target / "hydra")
    else:
        log.warning("rerun: %s kept no copy of its config (an earlier version of the lab)", folder)
    if live and (folder / RUN_LOG).is_file():  # open by the new job: copied, then emptied (it appends)
        shutil.copy2(folder / RUN_LOG, target / RUN_LOG)
        os.truncate(folder / RUN_LOG, 0)
    log.warning("rerun: the earlier content of %s moved to %s", folder, target)
    return target


def restore_config(folder: Path) -> None:
    """Put the folder's own run's `.hydra/` back from the copy it kept: a refused multirun job's Hydra
    wrote its config over it before the lab could refuse the job, and sweep readers read `.hydra/`."""
    if not (folder / SNAPSHOT).is_dir():
        return
    shutil.rmtree(folder / ".hydra", ignore_errors=True)
    shutil.copytree(folder / SNAPSHOT, folder / ".hydra")


def snapshot_config(folder: Path) -> None:
    """Keep a copy of this run's `.hydra/` that Hydra does not overwrite: a multirun rerun into the folder
    writes its own `.hydra/` before anything of the lab runs, and the superseded run keeps this copy."""
    if not (folder / ".hydra").is_dir():
        return
    shutil.rmtree(folder / SNAPSHOT, ignore_errors=True)
    with atomic_dir(folder / SNAPSHOT) as tmp:
        shutil.copytree(folder / ".hydra", tmp, dirs_exist_ok=True)
