"""Images and tables for the loggers that take them (W&B): the plots and a sample of predictions."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl


def log_image(trainer: pl.Trainer, key: str, path: Path) -> None:
    """A PNG the run wrote, as an image panel (every logger with `log_image`; rank 0 only)."""
    if trainer.is_global_zero:
        for logger in trainer.loggers:
            if callable(getattr(logger, "log_image", None)):
                logger.log_image(key=key, images=[str(path)])


def log_table(trainer: pl.Trainer, key: str, columns: list[str], rows: list[list]) -> None:
    """A small table (every logger with `log_table`; rank 0 only)."""
    if trainer.is_global_zero and rows:
        for logger in trainer.loggers:
            if callable(getattr(logger, "log_table", None)):
                logger.log_table(key=key, columns=columns, data=rows)
