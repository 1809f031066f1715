"""Hydra callbacks. FailureReport: every failed job of a multirun logs its error in its own folder, and the
sweep lists them. WandbSweepSummary: the sweep's summary tables, logged to W&B once per multirun.
RepeatedKeyCheck: a key given twice on the command line stops the run before any job starts. RunFolderCheck:
a new single run never writes into a folder holding another run.

Hydra keeps running the jobs of a sweep after one fails, but then re-raises only the first failure. Here
each failed job writes its traceback into its own log and `error.txt`, and at exit the multirun prints which
jobs failed and why (read from the job folders, so it works for any launcher: local, joblib or SLURM).
"""

from __future__ import annotations

import atexit
import logging
import os
import statistics
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

import yaml
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import InstantiationException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from labelsmooth.atomic import write_atomic
from labelsmooth.run.folder import MULTIRUN_ID, FolderRefused, check_location, locked, prepare_folder
from labelsmooth.run.metrics_file import ERROR, METRICS
from labelsmooth.run.sweeps import Job, by_configuration, configuration_names, read_jobs, shared_overrides

log = logging.getLogger(__name__)


def _first_line(error: BaseException) -> str:
    # Hydra wraps what a `_target_` raised ("Error in call to target 'x':" first): report the cause.
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def planned_jobs(config: DictConfig) -> list[list[str]] | None:
    """The overrides of every job the basic sweeper will launch, in order (None for other sweepers, whose
    jobs are not known in advance): the recipe's `hydra.sweeper.params` first, then the command line, as
    BasicSweeper.sweep combines them."""
    sweeper = config.hydra.sweeper
    if sweeper.get("_target_") != f"{BasicSweeper.__module__}.{BasicSweeper.__name__}":
        return None
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    overrides = OverridesParser.create().parse_overrides([*params, *config.hydra.overrides.task])
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def sweep_report(sweep_dir: Path, planned: list[list[str]] | None = None) -> str:
    """Which jobs of a sweep finished, failed (and why), stopped without a result, or never started."""
    jobs = sorted((p for p in sweep_dir.glob("**/.hydra/overrides.yaml")), key=lambda p: str(p))
    folders = {p.parent.parent: tuple(yaml.safe_load(p.read_text(encoding="utf-8")) or []) for p in jobs}
    failed = [p for p in folders if (p / ERROR).is_file()]
    unfinished = [p for p in folders if not (p / ERROR).is_file() and not (p / METRICS).is_file()]
    started = set(folders.values())
    never = [job for job in planned or [] if tuple(job) not in started]
    if not failed and not unfinished and not never:
        return ""
    total = max(len(planned or []), len(folders))
    done = len(folders) - len(failed) - len(unfinished)
    lines = [f"multirun {sweep_dir}: {done} of {total} jobs finished"]
    for p in failed:
        overrides, reason = (p / ERROR).read_text(encoding="utf-8").splitlines()[:2]
        lines.append(f"  FAILED job {p.relative_to(sweep_dir)} [{overrides}]: {reason}")
    for p in unfinished:
        lines.append(f"  NO RESULT job {p.relative_to(sweep_dir)} [{' '.join(folders[p])}]: no {METRICS}")
    lines += [f"  NOT STARTED job [{' '.join(job)}]" for job in never]
    return "\n".join(lines)


def _print_report(sweep_dir: Path, planned: list[list[str]] | None) -> None:
    if sweep_dir.is_dir() and (text := sweep_report(sweep_dir, planned)):
        print(text, file=sys.stderr)
    elif planned and not sweep_dir.is_dir():
        print(f"multirun {sweep_dir}: 0 of {len(planned)} jobs started", file=sys.stderr)


class RunFolderCheck(Callback):
    """Hydra callback (conf/hydra/default.yaml): a single run (not a resume) into a folder that holds a
    result or an unfinished run stops with one line (or, with rerun=true, moves it aside) before Hydra writes
    the run's `.hydra/` there, so a refused run leaves the finished one's config as it was. train() checks
    again for every job (also a multirun's), and a resume invalidates the old result there, once its
    settings passed (labelsmooth.run.folder)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if int(os.environ.get("LOCAL_RANK") or 0) > 0:  # a DDP rank in its job's folder (see above)
            return
        folder = Path(str(config.hydra.run.dir))
        resuming = config.get("ckpt_path") is not None and bool(config.get("train"))
        rerun = bool(config.get("rerun"))
        try:
            check_location(folder, "hydra.run.dir")
            if not folder.is_dir():
                return  # a new folder: nothing to refuse, nothing to move
            # Under the folder's lock: a live run is refused before anything of it is looked at or moved.
            with locked(folder):
                if rerun and not resuming:
                    _refuse_a_checkpoint_inside(config, folder)
                if not resuming:
                    prepare_folder(folder, resuming=False, rerun=rerun)
        except ValueError as err:
            print(err, file=sys.stderr)
            raise SystemExit(1) from None


def _refuse_a_checkpoint_inside(config: DictConfig, folder: Path) -> None:
    """`rerun=true` moves the folder's content aside: a `ckpt_path` inside it would be moved before it is
    read (`train=false ckpt_path=<run>/checkpoints/best.ckpt rerun=true`)."""
    ckpt = config.get("ckpt_path")
    if ckpt is None or str(ckpt) == "last":
        return
    path = Path(str(ckpt)).expanduser().resolve()
    if path.is_relative_to(folder.resolve()):
        raise FolderRefused(
            f"rerun=true: ckpt_path={ckpt} lies inside the run folder {folder}, whose content rerun=true "
            "moves into superseded/ first; evaluate it into another folder (hydra.run.dir=…)"
        )


class SweepFolderCheck(Callback):
    """Hydra callback (conf/hydra/default.yaml): a multirun's sweep folder is refused inside the project's
    code or at the checkout's root, before any job writes there; the launch gets an id its jobs inherit
    (their folder marks tell a later multirun's `rerun=true` from two jobs of one sweep in one folder)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ[MULTIRUN_ID] = uuid.uuid4().hex  # this launch, for its jobs' folder marks
        try:
            check_location(Path(str(config.hydra.sweep.dir)), "hydra.sweep.dir")
        except ValueError as err:
            print(err, file=sys.stderr)
            raise SystemExit(1) from None


class FailureReport(Callback):
    """Hydra callback (conf/hydra/default.yaml): per-job error files and the sweep's report at exit."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        atexit.register(_print_report, Path(config.hydra.sweep.dir), planned_jobs(config))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status != JobStatus.FAILED:
            return
        error = job_return._return_value  # the exception (return_value would re-raise it)
        if isinstance(error, FolderRefused):  # the folder is another run's: leave its files as they are
            log.error("job refused: %s", _first_line(error))
            return
        # Logged while the job's logging is still set up, so it lands in this job's own log file.
        log.error("job failed: %s", _first_line(error), exc_info=error)
        details = "".join(traceback.format_exception(error))
        overrides = " ".join(job_return.overrides or [])
        out = Path(config.hydra.runtime.output_dir) / ERROR
        write_atomic(out, f"{overrides}\n{_first_line(error)}\n\n{details}")


def summary_tables(jobs: list[Job]) -> tuple[list[str], list[list], list[str], list[list]]:
    """(columns, rows) per job and per configuration (mean and sample std over its seeds) of every metric."""
    names = configuration_names(jobs)
    metrics = sorted(set().union(*(j.metrics for j in jobs)))
    job_columns = ["job", "configuration", "seed", *metrics]
    job_rows = [[j.folder.name, names[j], j.seed, *(j.metrics.get(m) for m in metrics)] for j in jobs]
    config_columns = ["configuration", "seeds"] + [f"{m} {s}" for m in metrics for s in ("mean", "std")]
    config_rows = []
    for name, group in by_configuration(jobs).items():
        row: list = [name, len(group)]
        for m in metrics:
            values = [j.metrics[m] for j in group if m in j.metrics]
            row += [statistics.fmean(values) if values else None]
            row += [statistics.stdev(values) if len(values) > 1 else None]
        config_rows.append(row)
    return job_columns, job_rows, config_columns, config_rows


class WandbSweepSummary(Callback):
    """Hydra callback (conf/logger/wandb.yaml): once per multirun, one W&B run in the sweep's group holding
    its summary tables: every finished job's metrics (`sweep/jobs`) and, per configuration, their mean and
    std over seeds (`sweep/configurations`). Unfinished and `limited` jobs are left out (sweeps.read_jobs).
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = read_jobs([sweep_dir], warn=log.warning) if sweep_dir.is_dir() else []
        if not jobs:
            return
        import wandb  # here, not at import: single runs never need it

        # The jobs' own W&B settings, resolved as each job resolved them (`${hydra:…}` needs HydraConfig set,
        # which Hydra does per job, not for the multirun's own process).
        HydraConfig.instance().set_config(config)
        settings = config.logger.wandb
        job_columns, job_rows, config_columns, config_rows = summary_tables(jobs)
        run = wandb.init(
            project=settings.project,
            entity=settings.entity,
            group=settings.group,
            name=f"{settings.group}-summary",
            job_type="sweep-summary",
            dir=str(sweep_dir),
            mode=settings.mode,
            config={"sweep_dir": str(sweep_dir), "jobs": len(jobs), "overrides": shared_overrides(jobs)},
        )
        run.log(
            {
                "sweep/jobs": wandb.Table(columns=job_columns, data=job_rows),
                "sweep/configurations": wandb.Table(columns=config_columns, data=config_rows),
            }
        )
        run.finish()
