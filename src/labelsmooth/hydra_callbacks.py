"""Hydra callbacks. FailureReport: every failed job of a multirun logs its error in its own folder, and the
sweep lists them. WandbSweepSummary: the sweep's summary tables, logged to W&B once per multirun.

Hydra keeps running the jobs of a sweep after one fails, but then re-raises only the first failure. Here
each failed job writes its traceback into its own log and `error.txt`, and at exit the multirun prints which
jobs failed and why (read from the job folders, so it works for any launcher: local, joblib or SLURM).
"""

from __future__ import annotations

import atexit
import logging
import statistics
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import InstantiationException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from labelsmooth.outputs import ERROR, METRICS, write_atomic
from labelsmooth.sweeps import Job, by_configuration, configuration_names, read_jobs, shared_overrides

log = logging.getLogger(__name__)


def _first_line(error: BaseException) -> str:
    # Hydra wraps what a `_target_` raised ("Error in call to target 'x':" first): report the cause.
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def sweep_report(sweep_dir: Path) -> str:
    """Which jobs of a sweep folder finished, failed (and why) or stopped without a result."""
    jobs = sorted((p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()), key=lambda p: p.name)
    failed = [p for p in jobs if (p / ERROR).is_file()]
    unfinished = [p for p in jobs if not (p / ERROR).is_file() and not (p / METRICS).is_file()]
    if not failed and not unfinished:
        return ""
    lines = [
        f"multirun {sweep_dir}: {len(jobs) - len(failed) - len(unfinished)} of {len(jobs)} jobs finished"
    ]
    for p in failed:
        overrides, reason = (p / ERROR).read_text(encoding="utf-8").splitlines()[:2]
        lines.append(f"  FAILED job {p.name} [{overrides}]: {reason}")
    lines += [f"  NO RESULT job {p.name}: no {METRICS} (interrupted?)" for p in unfinished]
    return "\n".join(lines)


def _print_report(sweep_dir: Path) -> None:
    if sweep_dir.is_dir() and (text := sweep_report(sweep_dir)):
        print(text, file=sys.stderr)


class FailureReport(Callback):
    """Hydra callback (conf/hydra/default.yaml): per-job error files and the sweep's report at exit."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        atexit.register(_print_report, Path(config.hydra.sweep.dir))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status != JobStatus.FAILED:
            return
        error = job_return._return_value  # the exception (return_value would re-raise it)
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
