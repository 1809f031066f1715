"""PenultimateProjection: penultimate-layer activations on the plane of three class templates."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import move_data_to_device
from torch import Tensor

from labelsmooth.callbacks.media import log_image
from labelsmooth.callbacks.plots import plot_projection, project, template_plane

log = logging.getLogger(__name__)


class PenultimateProjection(pl.Callback):
    """After fit, projects val penultimate activations onto the plane of 3 class templates (Müller et al.)."""

    def __init__(self, class_ids: Sequence[int] | None = None, max_points: int = 2000) -> None:
        super().__init__()
        if class_ids is not None and len(class_ids) != 3:
            raise ValueError(f"callbacks.penultimate_projection.class_ids={list(class_ids)}: expected 3 ids")
        if max_points < 3:
            raise ValueError(f"callbacks.penultimate_projection.max_points={max_points}: expected >= 3")
        self.class_ids = None if class_ids is None else [int(i) for i in class_ids]
        self.max_points = max_points

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Before training, what the plot needs of the config: three distinct classes of the module."""
        if self.class_ids is None or not callable(getattr(pl_module, "penultimate", None)):
            return
        n_classes = pl_module.classifier_weight().shape[0]
        if n_classes >= 3 and (
            len(set(self.class_ids)) != 3 or not all(0 <= k < n_classes for k in self.class_ids)
        ):
            raise ValueError(
                f"callbacks.penultimate_projection.class_ids={self.class_ids}: expected three distinct "
                f"class indices in [0, {n_classes})"
            )

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not callable(getattr(pl_module, "penultimate", None)):
            log.info("penultimate projection: skipped, %s has no penultimate()", type(pl_module).__name__)
            return
        if not trainer.is_global_zero:
            return
        weights = pl_module.classifier_weight().detach().cpu()
        if weights.shape[0] < 3:
            log.info(
                "penultimate projection: skipped, %d classes (a plane needs 3 templates)", weights.shape[0]
            )
            return
        if trainer.datamodule is None:
            raise ValueError(
                "callbacks.penultimate_projection: needs trainer.datamodule for its val_dataloader()"
            )
        features, labels, counts = self._collect(trainer, pl_module, n_classes=weights.shape[0])
        names = list(getattr(pl_module, "class_names", [])) or [str(k) for k in range(weights.shape[0])]
        if len(labels) == 0:
            # A plot is no reason to fail a run that trained to the end: say why there is none, and go on.
            log.warning(
                "penultimate projection: skipped, no val items of classes %s "
                "(callbacks.penultimate_projection.class_ids=%s)",
                [names[k] for k in self.class_ids or []],
                self.class_ids,
            )
            return
        # Default: the three most frequent val classes, so each has enough points to show a cluster.
        class_ids = self.class_ids or counts.topk(3).indices.tolist()
        keep = torch.isin(labels, torch.tensor(class_ids))
        origin, basis = template_plane(weights, class_ids)
        points = project(features[keep], origin, basis)
        vertices = project(weights[class_ids], origin, basis)
        path = Path(trainer.default_root_dir) / "penultimate_projection.png"
        plot_projection(points, labels[keep], names, path, vertices, title="penultimate layer (val)")
        log_image(trainer, "val/penultimate_projection", path)
        log.info("penultimate projection: wrote %s (classes %s)", path, [names[k] for k in class_ids])

    def _collect(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, n_classes: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Val activations (the first max_points // 3 per wanted class, in val's order), their labels, and
        the class counts of the batches read (all of val unless the given classes filled up first); no
        activations when no val item is of a wanted class."""
        wanted = self.class_ids if self.class_ids is not None else list(range(n_classes))
        kept: dict[int, list[Tensor]] = {k: [] for k in wanted}
        room = dict.fromkeys(wanted, self.max_points // 3)
        counts = torch.zeros(n_classes, dtype=torch.long)
        was_training = pl_module.training
        pl_module.eval()
        try:
            with torch.no_grad():
                for batch in trainer.datamodule.val_dataloader():
                    feats, labels = pl_module.penultimate(move_data_to_device(batch, pl_module.device))
                    feats, labels = feats.detach().float().cpu(), labels.detach().long().cpu()
                    counts += torch.bincount(labels, minlength=n_classes)
                    for k in wanted:  # a loop over classes; the items of a class are taken in one slice
                        if room[k] > 0:
                            take = feats[labels == k][: room[k]]
                            kept[k].append(take)
                            room[k] -= len(take)
                    # Classes given and every one full: the rest of val would be encoded only to be
                    # dropped (its counts choose the classes only when none are given).
                    if self.class_ids is not None and not any(room.values()):
                        break
        finally:
            pl_module.train(was_training)
        if int(counts.sum()) == 0:
            raise ValueError(
                "callbacks.penultimate_projection: the validation set is empty; nothing to project"
            )
        chunks = [(torch.cat(kept[k]), k) for k in wanted if sum(len(t) for t in kept[k]) > 0]
        if not chunks:  # none of the chosen classes occurs in val (the caller skips the plot)
            return torch.zeros(0), torch.zeros(0, dtype=torch.long), counts
        features = torch.cat([c for c, _ in chunks])
        labels = torch.cat([torch.full((len(c),), k, dtype=torch.long) for c, k in chunks])
        return features, labels, counts
