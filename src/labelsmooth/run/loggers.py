"""Loggers that continue across a resume: one job is one CSV log and one W&B run, however often it stopped.

train.py calls `continue_run()` on every logger that has it before a resumed fit logs anything.
"""

from __future__ import annotations

import csv
import logging
import tempfile
from pathlib import Path

from pytorch_lightning.loggers import CSVLogger as _CSVLogger
from pytorch_lightning.loggers import WandbLogger as _WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from labelsmooth.atomic import atomic_file

log = logging.getLogger(__name__)


class _ContinuedWriter(ExperimentWriter):
    """Lightning's CSV writer, minus its deletion of an existing metrics.csv: the resumed run's rows follow
    the stopped run's. The stopped run may have logged past its last checkpoint; the resumed one logs those
    steps again, so its first row's step drops every old row from that step on (the logging schedule is a
    function of the step, so no step in between goes missing)."""

    def _check_log_dir_exists(self) -> None:
        self._first = True

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        if self._first and step is not None:
            self._first = False
            self._keep_before(step)
        super().log_metrics(metrics_dict, step)

    def _keep_before(self, step: int) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames or [], list(reader)
        kept = [row for row in rows if int(row["step"]) < step]
        with atomic_file(path, "w") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)
        self.metrics_keys = sorted(fields)  # new keys rewrite the file with a wider header
        log.info("%s: kept the %d of %d rows before step %d", path, len(kept), len(rows), step)


class CSVLogger(_CSVLogger):
    """`pytorch_lightning.loggers.CSVLogger` whose `metrics.csv` survives a resume (conf/logger); a new
    run replaces it, as Lightning's does."""

    _continued = False

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            Path(self.root_dir).mkdir(parents=True, exist_ok=True)
            writer = _ContinuedWriter if self._continued else ExperimentWriter
            self._experiment = writer(log_dir=self.log_dir)
        return self._experiment

    def continue_run(self) -> None:
        """Append to this folder's metrics.csv instead of replacing it (call before anything is logged)."""
        if self._experiment is not None:
            raise RuntimeError("CSVLogger.continue_run: the log has already started")
        self._continued = True


class WandbLogger(_WandbLogger):
    """`pytorch_lightning.loggers.WandbLogger` that resumes the folder's own W&B run (online or offline)."""

    def check_writable(self) -> None:
        """Stop with one line, before any training, if a folder W&B writes is not writable: the run folder's
        wandb/, W&B's staging (data) folder and its cache (both under HOME unless WANDB_DATA_DIR /
        WANDB_CACHE_DIR say otherwise). Found only at W&B's first staging write, a read-only HOME failed
        the job after its test, losing the result."""
        from wandb import env

        folders = {
            "the run's W&B folder": Path(self._save_dir or ".") / "wandb",
            "W&B's staging folder (WANDB_DATA_DIR)": Path(env.get_data_dir()).expanduser(),
            "W&B's cache (WANDB_CACHE_DIR)": Path(env.get_cache_dir()).expanduser(),
        }
        for what, folder in folders.items():
            try:  # as W&B will: create the folder and a file in it (a permission bit, a read-only mount)
                folder.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=folder):
                    pass
            except OSError as err:
                raise ValueError(
                    f"logger.wandb: {what} {folder} cannot be written ({err.strerror or err}); point it at a "
                    "writable folder, or log with logger=csv"
                ) from None

    def continue_run(self) -> None:
        """Log into the run this folder's stopped allocation started (`wandb/latest-run`), not a new one."""
        if self._experiment is not None:
            raise RuntimeError("WandbLogger.continue_run: the W&B run has already started")
        latest = Path(self._save_dir or ".") / "wandb" / "latest-run"
        if not latest.exists():
            return  # the stopped allocation logged nothing to W&B: a new run
        run_id = latest.resolve().name.rsplit("-", 1)[-1]  # offline-run-<date>_<time>-<id> / run-…-<id>
        self._wandb_init |= {"id": run_id, "resume": "allow"}
        self._id = run_id
        log.info("W&B: resuming run %s", run_id)
