"""Figures: reliability diagrams and penultimate-layer projections (Müller et al. 2019), with their callbacks.

Figures are drawn on `matplotlib.figure.Figure` (Agg canvas), never pyplot, so no global backend state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from matplotlib.figure import Figure
from torch import Tensor

from labelsmooth.metrics.calibration import DEFAULT_BINS, confidences_and_correct, reliability_bins

log = logging.getLogger(__name__)


def plot_reliability(
    confidences: Tensor, correct: Tensor, path: str | Path, n_bins: int = DEFAULT_BINS, title: str = ""
) -> Path:
    """Reliability diagram PNG: accuracy per confidence bin vs the diagonal, gaps shaded, counts below."""
    bins = reliability_bins(confidences, correct, n_bins)
    edges = bins.edges.numpy()
    width = edges[1] - edges[0]
    left = edges[:-1]
    nonempty = (bins.counts > 0).numpy()
    acc, conf = bins.accuracy.numpy(), bins.confidence.numpy()

    fig = Figure(figsize=(4.5, 5.5))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(left[nonempty], acc[nonempty], width=width, align="edge", edgecolor="black", label="accuracy")
    # The gap bar spans accuracy -> mean confidence: red where the model is over-confident.
    top.bar(
        left[nonempty],
        conf[nonempty] - acc[nonempty],
        bottom=acc[nonempty],
        width=width,
        align="edge",
        color="tab:red",
        alpha=0.35,
        edgecolor="tab:red",
        label="gap",
    )
    top.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=title)
    top.legend(loc="upper left", fontsize="small")
    bottom.bar(left, bins.counts.numpy(), width=width, align="edge", color="tab:gray", edgecolor="black")
    bottom.set(xlabel="confidence", ylabel="count", yscale="symlog")
    return _save(fig, path)


def template_plane(weights: Tensor, class_ids: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Plane through three class templates (last-layer rows): origin (D,), orthonormal basis (2, D)."""
    w = torch.as_tensor(weights).detach().cpu().to(torch.float64)
    ids = [int(i) for i in class_ids]
    if w.dim() != 2:
        raise ValueError(f"weights: expected shape (K, D), got {tuple(w.shape)}")
    if len(ids) != 3 or len(set(ids)) != 3 or not all(0 <= i < w.shape[0] for i in ids):
        raise ValueError(f"class_ids={ids}: expected three distinct class indices in [0, {w.shape[0]})")
    templates = w[ids]
    origin = templates.mean(dim=0)  # the triangle's centroid, so the plot is centred on it
    # QR is Gram-Schmidt on the two edge vectors: its Q spans the plane with orthonormal columns.
    q, r = torch.linalg.qr((templates[1:] - templates[0]).T)
    if bool((r.diagonal().abs() <= 1e-9 * w.abs().max()).any()):
        raise ValueError(f"class_ids={ids}: the three templates are collinear; they span no plane")
    return origin, q.T.contiguous()


def project(activations: Tensor, origin: Tensor, basis: Tensor) -> Tensor:
    """Coordinates (N, 2) of activations (N, D) in the plane given by an origin and an orthonormal basis."""
    x = torch.as_tensor(activations).detach().cpu().to(torch.float64)
    return (x - origin) @ basis.T


def plot_projection(
    points: Tensor,
    labels: Tensor,
    class_names: Sequence[str],
    path: str | Path,
    vertices: Tensor | None = None,
    title: str = "",
) -> Path:
    """Scatter PNG of projected points, one colour per class (class_names[label]); optional triangle."""
    xy = torch.as_tensor(points).detach().cpu().numpy()
    y = torch.as_tensor(labels).detach().cpu().long()
    if xy.ndim != 2 or xy.shape[1] != 2 or len(y) != len(xy):
        raise ValueError(f"points {xy.shape}, labels {tuple(y.shape)}: expected (N, 2) and (N,)")
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for k in torch.unique(y).tolist():
        keep = (y == k).numpy()
        name = class_names[k] if k < len(class_names) else str(k)
        ax.scatter(xy[keep, 0], xy[keep, 1], s=4, alpha=0.5, label=name)
    if vertices is not None:
        v = torch.as_tensor(vertices).detach().cpu().numpy()
        ax.fill(v[:, 0], v[:, 1], fill=False, edgecolor="black", linewidth=1)
        ax.scatter(v[:, 0], v[:, 1], marker="*", s=150, color="black", label="templates", zorder=3)
    ax.set(title=title, xlabel="plane axis 1", ylabel="plane axis 2", aspect="equal")
    legend = ax.legend(fontsize="small")
    for handle in legend.legend_handles:  # same readable marker size for tiny dots and large stars
        handle.set_sizes([30])
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    """Write a figure as PNG, creating the folder."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=120)
    return out


class ReliabilityDiagram(L.Callback):
    """Writes `reliability_{val,test}.png` into `trainer.default_root_dir` after `trainer.validate`/`test`."""

    def __init__(self, n_bins: int = DEFAULT_BINS) -> None:
        super().__init__()
        if n_bins < 1:
            raise ValueError(f"callbacks.reliability_diagram.n_bins={n_bins}: expected an integer >= 1")
        self.n_bins = n_bins

    # on_*_end: the module fills calibration_logits in its epoch-end hook, which Lightning calls after ours.
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "validate" and not trainer.sanity_checking:
            self._write(trainer, pl_module, "val")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, pl_module, "test")

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, split: str) -> None:
        if not trainer.is_global_zero:
            return
        stored = getattr(pl_module, "calibration_logits", {})
        if split not in stored:
            raise ValueError(
                f"callbacks.reliability_diagram: {type(pl_module).__name__} stored no '{split}' logits"
            )
        confidences, correct = confidences_and_correct(*stored[split])
        path = Path(trainer.default_root_dir) / f"reliability_{split}.png"
        plot_reliability(confidences, correct, path, self.n_bins, title=f"{split} ({len(correct)} items)")
        log.info("reliability diagram: wrote %s", path)


class PenultimateProjection(L.Callback):
    """After fit, projects val penultimate activations onto the plane of 3 class templates (Müller et al.)."""

    def __init__(self, class_ids: Sequence[int] | None = None, max_points: int = 2000) -> None:
        super().__init__()
        if class_ids is not None and len(class_ids) != 3:
            raise ValueError(f"callbacks.penultimate_projection.class_ids={list(class_ids)}: expected 3 ids")
        if max_points < 3:
            raise ValueError(f"callbacks.penultimate_projection.max_points={max_points}: expected >= 3")
        self.class_ids = None if class_ids is None else [int(i) for i in class_ids]
        self.max_points = max_points

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
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
        # Default: the three most frequent val classes, so each has enough points to show a cluster.
        class_ids = self.class_ids or counts.topk(3).indices.tolist()
        keep = torch.isin(labels, torch.tensor(class_ids))
        origin, basis = template_plane(weights, class_ids)
        points = project(features[keep], origin, basis)
        vertices = project(weights[class_ids], origin, basis)
        path = Path(trainer.default_root_dir) / "penultimate_projection.png"
        names = list(getattr(pl_module, "class_names", [])) or [str(k) for k in range(weights.shape[0])]
        plot_projection(points, labels[keep], names, path, vertices, title="penultimate layer (val)")
        log.info("penultimate projection: wrote %s (classes %s)", path, [names[k] for k in class_ids])

    def _collect(
        self, trainer: L.Trainer, pl_module: L.LightningModule, n_classes: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Val activations (at most max_points // 3 per wanted class), their labels, and all class counts."""
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
        finally:
            pl_module.train(was_training)
        if int(counts.sum()) == 0:
            raise ValueError(
                "callbacks.penultimate_projection: the validation set is empty; nothing to project"
            )
        chunks = [(torch.cat(kept[k]), k) for k in wanted if sum(len(t) for t in kept[k]) > 0]
        if not chunks:
            raise ValueError(
                f"callbacks.penultimate_projection.class_ids={wanted}: no val items of these classes"
            )
        features = torch.cat([c for c, _ in chunks])
        labels = torch.cat([torch.full((len(c),), k, dtype=torch.long) for c, k in chunks])
        return features, labels, counts
