"""Figures: PNGs are written, and the template plane is orthonormal and passes through the templates."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import labelsmooth.callbacks.projection as projection
from labelsmooth.callbacks import PenultimateProjection, ReliabilityDiagram
from labelsmooth.callbacks.plots import (
    plot_projection,
    plot_reliability,
    project,
    template_plane,
)
from labelsmooth.metrics.levels import ClassLevel
from labelsmooth.tasks.base import Decoded

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(3, 10), d=st.integers(3, 64))
def test_template_plane_is_orthonormal_and_holds_the_templates(seed: int, k: int, d: int) -> None:
    g = torch.Generator().manual_seed(seed)
    weights = torch.randn(k, d, generator=g, dtype=torch.float64)
    ids = torch.randperm(k, generator=g)[:3].tolist()
    origin, basis = template_plane(weights, ids)
    assert basis.shape == (2, d)
    torch.testing.assert_close(basis @ basis.T, torch.eye(2, dtype=torch.float64))
    vertices = project(weights[ids], origin, basis)
    # The templates lie in the plane: their projections map back onto them exactly ...
    torch.testing.assert_close(origin + vertices @ basis, weights[ids])
    # ... so the triangle keeps the templates' pairwise distances.
    torch.testing.assert_close(torch.cdist(vertices, vertices), torch.cdist(weights[ids], weights[ids]))
    # Any other point's residual is orthogonal to the plane.
    x = torch.randn(5, d, generator=g, dtype=torch.float64)
    residual = (x - origin) - project(x, origin, basis) @ basis
    torch.testing.assert_close(residual @ basis.T, torch.zeros(5, 2, dtype=torch.float64))


def test_template_plane_rejects_bad_classes() -> None:
    w = torch.randn(4, 5)
    with pytest.raises(ValueError, match="three distinct"):
        template_plane(w, [0, 0, 1])
    collinear = torch.stack([torch.zeros(5), torch.ones(5), 2 * torch.ones(5)])
    with pytest.raises(ValueError, match="collinear"):
        template_plane(collinear, [0, 1, 2])


def test_plot_functions_write_pngs(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    conf = torch.rand(300, generator=g)
    conf[:3] = torch.tensor([0.0, 1.0, 1.0])
    out = plot_reliability(conf, torch.rand(300, generator=g) < conf, tmp_path / "sub" / "rel.png", title="t")
    assert _is_png(out)
    points, labels = torch.randn(90, 2, generator=g), torch.arange(3).repeat(30)
    out = plot_projection(
        points, labels, ["a", "b", "c"], tmp_path / "proj.png", vertices=torch.eye(3)[:, :2]
    )
    assert _is_png(out)


# --- callbacks with a real Trainer -----------------------------------------------------------------------


class TinyTask(pl.LightningModule):
    """An MLP classifier exposing eval_results, penultimate() and classifier_weight() like a task."""

    class_names = ["zero", "one", "two", "three", "four"]

    def __init__(self, k: int = 5, d: int = 6, h: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, h), nn.ReLU())
        self.head = nn.Linear(h, k)
        self.eval_results: dict[str, tuple[dict, Decoded]] = {}
        self._outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.penultimate_calls = 0

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.body(x)), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self._outputs.append((self.head(self.body(x)).cpu(), y.cpu()))

    test_step = validation_step

    def _finish(self, split: str) -> None:
        logits, labels = (torch.cat(t) for t in zip(*self._outputs, strict=True))
        self._outputs = []
        self.eval_results[split] = (
            {},
            Decoded({}, logits, labels, levels={"example": ClassLevel(logits, labels)}),
        )

    def on_validation_epoch_end(self) -> None:
        self._finish("val")

    def on_test_epoch_end(self) -> None:
        self._finish("test")

    def penultimate(self, batch):
        assert not self.training and not torch.is_grad_enabled()
        self.penultimate_calls += 1
        x, y = batch
        return self.body(x), y

    def classifier_weight(self) -> torch.Tensor:
        return self.head.weight

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.3)


class NoAxisTask(TinyTask):
    """A task without a single class axis: no penultimate()."""

    penultimate = None  # type: ignore[assignment]


class TinyData(pl.LightningDataModule):
    def __init__(self, k: int = 5, d: int = 6) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(400, d, generator=g)
        # Class 4 is rare, so the three most frequent classes are a strict subset.
        self.y = (self.x[:, :k] + torch.tensor([0.0, 0.3, 0.6, 0.9, -2.0])).argmax(1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x[:300], self.y[:300]), batch_size=50, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x[300:], self.y[300:]), batch_size=50)

    test_dataloader = val_dataloader


def _trainer(tmp_path: Path, *callbacks: pl.Callback) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=1,
        logger=False,
        callbacks=list(callbacks),
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )


def test_callbacks_write_their_pngs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pl.seed_everything(0)
    trainer = _trainer(tmp_path, ReliabilityDiagram(n_bins=15), PenultimateProjection(max_points=60))
    module, data = TinyTask(), TinyData()
    chosen: list[list[int]] = []
    real_plane = projection.template_plane
    monkeypatch.setattr(
        projection, "template_plane", lambda w, ids: chosen.append(list(ids)) or real_plane(w, ids)
    )
    trainer.fit(module, datamodule=data)
    assert _is_png(tmp_path / "penultimate_projection.png")
    assert module.penultimate_calls == 2 and module.training  # every val batch, then train mode restored
    counts = torch.bincount(data.y[300:], minlength=5)
    assert sorted(chosen[0]) == sorted(counts.topk(3).indices.tolist())
    assert not list(tmp_path.glob("reliability_*.png"))  # not during fit's validation epochs
    trainer.validate(module, datamodule=data, verbose=False)
    assert _is_png(tmp_path / "reliability_val_example.png")
    trainer.test(module, datamodule=data, verbose=False)
    assert _is_png(tmp_path / "reliability_test_example.png")


def test_projection_skips_a_module_without_penultimate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = _trainer(tmp_path, PenultimateProjection())
    with caplog.at_level(logging.INFO, logger="labelsmooth.callbacks.projection"):
        trainer.fit(NoAxisTask(), datamodule=TinyData())
    assert "skipped" in caplog.text
    assert not (tmp_path / "penultimate_projection.png").exists()


def test_projection_without_val_items_of_its_classes_warns_once_and_the_fit_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Such a run trained to the end and then failed in this plot; now it says why there is no plot."""
    data = TinyData()
    data.y[300:] = torch.where(data.y[300:] < 3, 0, data.y[300:])  # no val item of classes 1 and 2
    data.y[300:] = torch.where(data.y[300:] == 3, 0, data.y[300:])  # nor of 3
    trainer = _trainer(tmp_path, PenultimateProjection(class_ids=[1, 2, 3]))
    with caplog.at_level(logging.INFO, logger="labelsmooth.callbacks.projection"):
        trainer.fit(TinyTask(), datamodule=data)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == projection.log.name]
    assert [r.getMessage() for r in warnings] == [
        "penultimate projection: skipped, no val items of classes ['one', 'two', 'three'] "
        "(callbacks.penultimate_projection.class_ids=[1, 2, 3])"
    ]
    assert not (tmp_path / "penultimate_projection.png").exists()


@pytest.mark.parametrize("class_ids", [[1, 2, 5], [1, 1, 2]])
def test_projection_classes_the_module_lacks_are_refused_before_training(
    tmp_path: Path, class_ids: list[int]
) -> None:
    module = TinyTask()
    trainer = _trainer(tmp_path, PenultimateProjection(class_ids=class_ids))
    expected = f"callbacks.penultimate_projection.class_ids={class_ids}: expected three distinct class"
    with pytest.raises(ValueError, match=re.escape(expected) + r" indices in \[0, 5\)"):
        trainer.fit(module, datamodule=TinyData())
    assert trainer.global_step == 0


def test_projection_with_given_classes_stops_reading_val_once_they_are_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The points are the first max_points // 3 val items of each given class, in val's order, as a full
    pass takes them; the batches after the classes are full are not encoded."""
    pl.seed_everything(0)
    class_ids, per_class = [1, 2, 3], 4
    data, module = TinyData(), TinyTask()
    val_x, val_y = data.x[300:], data.y[300:]
    assert all(int((val_y[:50] == k).sum()) >= per_class for k in class_ids)  # the first batch fills them
    drawn: list[tuple[torch.Tensor, torch.Tensor]] = []
    monkeypatch.setattr(
        projection, "plot_projection", lambda points, labels, *a, **k: drawn.append((points, labels))
    )
    trainer = _trainer(tmp_path, PenultimateProjection(class_ids=class_ids, max_points=3 * per_class))
    trainer.fit(module, datamodule=data)
    assert module.penultimate_calls == 1  # of val's two batches
    module.eval()
    with torch.no_grad():
        features = module.body(val_x)
    rows = torch.cat([(val_y == k).nonzero()[:per_class, 0] for k in class_ids])
    origin, basis = template_plane(module.classifier_weight(), class_ids)
    points, labels = drawn[0]
    assert torch.equal(labels, val_y[rows])
    torch.testing.assert_close(points, project(features[rows], origin, basis), rtol=0, atol=0)
