"""SmoothingCallback in a real Lightning loop: logging, CP warm-up, a frozen KD teacher from a checkpoint."""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader

from labelsmooth.smoothing import (
    ConfidencePenalty,
    Distillation,
    Head,
    LabelSmoothing,
    NoSmoothing,
    SmoothingCallback,
)


@dataclass
class Spec:
    """A model spec like the tasks' (labelsmooth.specs): a dataclass, kept as a plain dict in hparams."""

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
    (tmp_path / name / "metrics.json").write_text(json.dumps({"val/acc": 0.5}))
    return str(path)


def test_kd_teacher_is_loaded_frozen_and_kept_out_of_the_student(tmp_path):
    ckpt = save_teacher(ToyModule, tmp_path, "teacher_run")
    kd = Distillation(2.0, 0.5, str(tmp_path / "teacher_run"))  # a run directory resolves to best.ckpt
    assert str(kd.checkpoint) == ckpt
    student = ToyModule()
    fresh_keys = set(ToyModule().state_dict())
    trainer = fit(student, [SmoothingCallback(kd)], tmp_path / "student")
    teacher = kd.teacher_module
    assert isinstance(teacher, ToyModule) and teacher is not student
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    saved = torch.load(ckpt, weights_only=True)["state_dict"]
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, saved[key]), f"teacher weight {key} changed during distillation"
    assert set(student.state_dict()) == fresh_keys
    student_params = {id(p) for p in student.parameters()}
    assert not any(id(p) in student_params for p in teacher.parameters())
    rows = [r for r in logged(trainer) if r.get("smoothing/weight")]
    assert [float(r["smoothing/temperature"]) for r in rows] == [2.0] * 6
    # The teacher's logits are its own, for the student's batch.
    batch = next(iter(loader()))
    torch.testing.assert_close(kd.teacher_logits(batch)[0], teacher.layer(batch["x"]))


def test_run_directory_falls_back_to_last_ckpt(tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    torch.save({"task_name": "toy", "state_dict": {}}, last)
    (tmp_path / "run" / "metrics.json").write_text("{}")
    assert Distillation(2.0, 0.5, str(tmp_path / "run")).checkpoint == last
    with pytest.raises(ValueError, match="has no checkpoints/best.ckpt or last.ckpt"):
        Distillation(2.0, 0.5, str(tmp_path))


def test_a_teacher_of_another_task_is_refused(tmp_path):
    ckpt = save_teacher(OtherTask, tmp_path, "other_run")
    kd = Distillation(2.0, 0.5, ckpt)
    with pytest.raises(ValueError, match=r"is a checkpoint of task 'other', expected 'toy'") as err:
        fit(ToyModule(), [SmoothingCallback(kd)], tmp_path / "student")
    assert "\n" not in str(err.value)


def test_a_missing_teacher_path_raises_at_construction(tmp_path):
    missing = f"smoothing.teacher: no checkpoint or run directory at {tmp_path}/nope"
    with pytest.raises(ValueError, match=missing):
        Distillation(2.0, 0.5, str(tmp_path / "nope"))


def test_callback_wants_a_smoothing_and_the_dict_contract(tmp_path):
    with pytest.raises(ValueError, match="expected a Smoothing"):
        SmoothingCallback({"alpha": 0.1})

    class LossOnly(ToyModule):
        def training_step(self, batch, batch_idx):
            return super().training_step(batch, batch_idx)["loss"]

    with pytest.raises(ValueError, match="expected a dict with 'loss', 'nll' and 'stats'"):
        fit(LossOnly(), [SmoothingCallback(LabelSmoothing(0.1))], tmp_path, steps=1)


def test_a_teacher_is_rebuilt_without_pretrained_weights(tmp_path):
    ckpt = save_teacher(ToyModule, tmp_path, "teacher_run")
    assert torch.load(ckpt, weights_only=True)["hyper_parameters"]["model"]["pretrained"] is True
    kd = Distillation(2.0, 0.5, ckpt)
    kd.attach(ToyModule, "toy", torch.device("cpu"))
    # The state_dict overwrites the weights anyway: the teacher must not fetch or read pretrained ones.
    assert kd.teacher_module.hparams["model"] == {"n_in": 4, "sizes": [3], "pretrained": False}
