"""SmoothingCallback in a real Lightning loop: logging, CP warm-up; the toy task the teacher tests use."""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, ClassVar

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from labelsmooth.atomic import sha256_of
from labelsmooth.callbacks import SmoothingCallback
from labelsmooth.models.specs import MLPSpec
from labelsmooth.smoothing import (
    ConfidencePenalty,
    Distillation,
    Head,
    LabelSmoothing,
    NoSmoothing,
)
from labelsmooth.tasks.image import ImageModule


@dataclass
class Spec:
    """A model spec like the tasks' (models/specs.py): a dataclass, kept as a plain dict in hparams."""

    n_in: int = 4
    sizes: list[int] = field(default_factory=lambda: [3])
    pretrained: bool = True


class ToyModule(pl.LightningModule):
    """A linear classifier with the task-module contract: task_name, heads(batch), the training_step dict."""

    task_name: ClassVar[str] = "toy"

    def __init__(self, model: Spec | dict | None = None, optimizer: Any = None) -> None:
        super().__init__()
        # As the tasks do (as_spec / as_config): plain data in hparams, so the checkpoint is weights-only.
        spec = Spec(**model) if isinstance(model, dict) else model or Spec()
        self.save_hyperparameters(ignore=["optimizer", "model"])
        self.hparams["model"] = asdict(spec)
        self.layer = nn.Linear(spec.n_in, spec.sizes[0])
        self.smoothing = NoSmoothing()

    def heads(self, batch: dict[str, torch.Tensor]) -> list[Head]:
        return [Head("y", self.layer(batch["x"]), batch["y"], None, "classes")]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, Any]:
        heads = self.heads(batch)
        teacher = self.smoothing.teacher_logits(batch) or [None] * len(heads)
        outs = [
            self.smoothing.compute(h.logits, h.target, h.mask, h.kind, teacher_logits=t)
            for h, t in zip(heads, teacher, strict=True)
        ]
        return {"loss": outs[0].loss, "nll": outs[0].nll, "stats": outs[0].stats}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["task_name"] = self.task_name


class OtherTask(ToyModule):
    task_name: ClassVar[str] = "other"


def loader() -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(48, 4, generator=gen)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    return DataLoader([{"x": a, "y": b} for a, b in zip(x, y, strict=True)], batch_size=8)


def fit(module: pl.LightningModule, callbacks: list, tmp_path, steps: int = 6) -> pl.Trainer:
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    trainer = pl.Trainer(
        max_steps=steps,
        logger=CSVLogger(tmp_path, name="logs"),
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        callbacks=callbacks,
    )
    trainer.fit(module, train_dataloaders=loader())
    return trainer


def logged(trainer: pl.Trainer) -> list[dict[str, str]]:
    with open(f"{trainer.logger.log_dir}/metrics.csv") as f:
        return list(csv.DictReader(f))


def test_callback_logs_stats_and_advances_the_cp_warmup(tmp_path):
    cp = ConfidencePenalty(2.0, warmup_steps=4, base=LabelSmoothing(0.1))
    module = ToyModule()
    trainer = fit(module, [SmoothingCallback(cp)], tmp_path)
    assert module.smoothing is cp
    rows = [r for r in logged(trainer) if r.get("smoothing/beta")]
    assert len(rows) == 6
    for name in ("target_entropy", "max_prob", "logit_gap", "alpha"):
        assert all(math.isfinite(float(r[f"smoothing/{name}"])) for r in rows), name
    betas = [float(r["smoothing/beta"]) for r in rows]
    assert betas == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    assert float(rows[0]["smoothing/max_prob"]) <= 1.0


def save_teacher(module_cls: type, tmp_path, name: str) -> str:
    """A finished teacher run: checkpoints/best.ckpt, then metrics.json (written last, as run.py does)."""
    teacher = module_cls(Spec())
    trainer = fit(teacher, [], tmp_path / name, steps=3)
    path = tmp_path / name / "checkpoints" / "best.ckpt"
    trainer.save_checkpoint(path)
    scored = {"val/acc": 0.5, "best_checkpoint": str(path), "best_checkpoint_sha256": sha256_of(path)}
    (tmp_path / name / "metrics.json").write_text(json.dumps(scored))
    return str(path)


def test_callback_wants_a_smoothing_and_the_dict_contract(tmp_path):
    with pytest.raises(ValueError, match="expected a Smoothing"):
        SmoothingCallback({"alpha": 0.1})

    class LossOnly(ToyModule):
        def training_step(self, batch, batch_idx):
            return super().training_step(batch, batch_idx)["loss"]

    with pytest.raises(ValueError, match="expected a dict with 'loss', 'nll' and 'stats'"):
        fit(LossOnly(), [SmoothingCallback(LabelSmoothing(0.1))], tmp_path, steps=1)


# --- the production training_step (TaskModule's), with more heads than one ---------------------------------
class TwoHeadImage(ImageModule):
    """The real image task module with a second output head (as QA has start and end): its training_step is
    TaskModule's own, not a re-implementation."""

    def __init__(self) -> None:
        super().__init__(
            MLPSpec(hidden=8), in_features=4, num_classes=3, optimizer=partial(torch.optim.SGD, lr=0.1)
        )
        self.second = nn.Linear(8, 3)

    def heads(self, batch: tuple[torch.Tensor, ...]) -> list[Head]:
        x, y = batch[0], batch[1]
        hidden = self.body(x)
        return [
            Head("first", self.classifier(hidden), y, None, "classes"),
            Head("second", self.second(hidden), y.flip(0), None, "classes"),
        ]


def image_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, generator=gen)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 1).long(), torch.arange(8)


def frozen(module: nn.Module) -> nn.Module:
    module.eval().requires_grad_(False)
    return module


# training_step called directly (no trainer): its self.log calls only warn.
no_trainer = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")


@no_trainer
def test_the_task_training_step_averages_the_loss_of_every_head():
    torch.manual_seed(0)
    module, batch = TwoHeadImage(), image_batch()
    module.smoothing = LabelSmoothing(0.1)
    out = module.training_step(batch, 0)
    expected = [
        nn.functional.cross_entropy(h.logits, h.target, label_smoothing=0.1) for h in module.heads(batch)
    ]
    torch.testing.assert_close(out["loss"], torch.stack(expected).mean())
    assert set(out) == {"loss", "nll", "stats"}


@no_trainer
def test_each_head_is_distilled_from_the_teachers_logits_of_that_head():
    torch.manual_seed(0)
    student, batch = TwoHeadImage(), image_batch()
    kd = Distillation(2.0, 1.0, "teacher_run")  # weight 1: the loss is the KL term alone
    kd.set_teacher(frozen(copy.deepcopy(student)))  # the same logits, head by head: KL 0
    student.smoothing = kd
    assert student.training_step(batch, 0)["loss"].item() == pytest.approx(0.0, abs=1e-6)


def test_a_teacher_with_fewer_heads_than_the_student_stops_training(tmp_path):
    """zip(heads, teacher_logits, strict=True): a head without its teacher's logits is an error, not a
    head silently dropped from the loss."""
    torch.manual_seed(0)
    one_head = ImageModule(MLPSpec(hidden=8), in_features=4, num_classes=3)
    kd = Distillation(2.0, 0.5, "teacher_run")
    kd.set_teacher(frozen(one_head))
    student = TwoHeadImage()
    x, y, index = image_batch()
    trainer = pl.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        callbacks=[SmoothingCallback(kd)],
        default_root_dir=tmp_path,
    )
    with pytest.raises(ValueError, match="zip"):
        trainer.fit(student, train_dataloaders=DataLoader(TensorDataset(x, y, index), batch_size=4))
    assert trainer.global_step == 0
