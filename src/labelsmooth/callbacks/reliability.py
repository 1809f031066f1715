"""ReliabilityDiagram: a reliability diagram with consistency bands per level of the final val/test pass."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytorch_lightning as pl

from labelsmooth.callbacks.media import log_image
from labelsmooth.callbacks.plots import plot_reliability
from labelsmooth.metrics.calibration import DEFAULT_BINS
from labelsmooth.metrics.estimators import consistency_bands
from labelsmooth.metrics.levels import Level

log = logging.getLogger(__name__)


def write_reliability(
    trainer: pl.Trainer, levels: Mapping[str, Level], split: str, n_bins: int, rounds: int, suffix: str = ""
) -> None:
    """`reliability_<split>_<level><suffix>.png` and its W&B image, for every level with items (rank 0)."""
    if not trainer.is_global_zero:
        return
    for name, level in levels.items():
        confidence, correct = level.confidence_and_correct()
        if len(correct) == 0:
            continue
        bands = consistency_bands(confidence, n_bins, rounds=rounds)
        path = Path(trainer.default_root_dir) / f"reliability_{split}_{name}{suffix}.png"
        title = f"{split} {name}{suffix} ({len(correct)} items)"
        plot_reliability(confidence, correct, path, n_bins, title=title, bands=bands)
        log_image(trainer, f"{split}/reliability/{name}{suffix}", path)
        log.info("reliability diagram: wrote %s", path)


class ReliabilityDiagram(pl.Callback):
    """After `trainer.validate` / `test` (not fit's epochs): one PNG per calibration level of the task."""

    def __init__(self, n_bins: int = DEFAULT_BINS, rounds: int = 500) -> None:
        super().__init__()
        if n_bins < 1:
            raise ValueError(f"callbacks.reliability_diagram.n_bins={n_bins}: expected an integer >= 1")
        if rounds < 1:
            raise ValueError(f"callbacks.reliability_diagram.rounds={rounds}: expected an integer >= 1")
        self.n_bins = n_bins
        self.rounds = rounds

    # on_*_end: the module fills eval_results in its epoch-end hook, which Lightning calls after ours.
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "validate" and not trainer.sanity_checking:
            self._write(trainer, pl_module, "val")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(trainer, pl_module, "test")

    def _write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, split: str) -> None:
        results = getattr(pl_module, "eval_results", {})
        if split not in results:
            raise ValueError(
                f"callbacks.reliability_diagram: {type(pl_module).__name__} stored no '{split}' pass"
            )
        write_reliability(trainer, results[split][1].levels, split, self.n_bins, self.rounds)
