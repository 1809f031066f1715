"""Figures: reliability diagrams and penultimate-layer projections (Müller et al. 2019).

Figures are drawn on `matplotlib.figure.Figure` (Agg canvas), never pyplot, so no global backend state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from labelsmooth.atomic import atomic_file
from labelsmooth.metrics.calibration import DEFAULT_BINS, reliability_bins


def plot_reliability(
    confidences: Tensor,
    correct: Tensor,
    path: str | Path,
    n_bins: int = DEFAULT_BINS,
    title: str = "",
    bands: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Reliability diagram PNG: accuracy per confidence bin vs the diagonal, gaps shaded, counts below.

    bands: per-bin (lower, upper) accuracy a calibrated model's bins would show on these confidences
    (consistency resampling, metrics.estimators.consistency_bands), drawn as a box per bin: an observed
    accuracy outside its box is a miscalibration that the test set's size does not explain.
    """
    bins = reliability_bins(confidences, correct, n_bins)
    edges = bins.edges.numpy()
    width = edges[1] - edges[0]
    left = edges[:-1]
    nonempty = (bins.counts > 0).numpy()
    acc, conf = bins.accuracy.numpy(), bins.confidence.numpy()

    fig = Figure(figsize=(4.5, 5.5))
    fig.subplots_adjust(left=0.16, right=0.95, bottom=0.1, top=0.93, hspace=0.12)  # see _save
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
    if bands is not None:
        low, high = bands
        shown = nonempty & np.isfinite(low) & np.isfinite(high)
        top.bar(
            left[shown] + 0.3 * width,
            (high - low)[shown],
            bottom=low[shown],
            width=0.4 * width,
            align="edge",
            color="none",
            edgecolor="tab:green",
            linewidth=1.2,
            label="90 % consistency band",
        )
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
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.11, top=0.92)  # see _save
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
    """Write a figure as PNG, creating the folder.

    The margins are fixed by each figure (what tight_layout chose for them, a little wider): tight_layout
    draws the whole figure once more to measure it, half the time of a plot, paid in every run."""
    out = Path(path)
    with atomic_file(out) as f:
        fig.savefig(f, format="png", dpi=120)
    return out
