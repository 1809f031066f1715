"""The Smoothing base class: what every smoothing shares (checked inputs, target q, loss and statistics)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from labelsmooth.smoothing.targets import Batch, prepare
from labelsmooth.smoothing.terms import batch_stats, soft_cross_entropy, without_autocast


class LossOutput(NamedTuple):
    """The training loss, plain NLL beside it, and detached statistics of the batch (all scalars).

    `nll` and `stats` are None when `compute` was asked for the loss alone (`with_stats=False`).
    """

    loss: Tensor
    nll: Tensor | None
    stats: dict[str, Tensor] | None


class Smoothing:
    """Base: a target distribution q per item and the loss against it.

    A subclass defines `_targets` (q for a checked batch) and, when its loss is more than CE(q, p),
    `_loss`; schedules (`step`, `current`) and a teacher (`teacher`, `set_teacher`, `teacher_logits`) are
    optional.
    """

    # The checkpoint of a frozen teacher this smoothing needs (a path; only distillation has one): train.py
    # checks and loads it, then calls `set_teacher(module)`.
    teacher: str | None = None

    def compute(
        self,
        logits: Tensor,
        target: Tensor,
        mask: Tensor | None = None,
        kind: str = "classes",
        teacher_logits: Tensor | None = None,
        with_stats: bool = True,
    ) -> LossOutput:
        """Regularised loss (mean over valid items), computed in float32; with plain NLL and statistics
        unless `with_stats=False` (then `nll` and `stats` are None, and the statistics cost nothing)."""
        with without_autocast(logits.device.type):
            b = prepare(logits, target, mask, kind)
            with torch.no_grad():  # q is a constant of the loss, whatever a smoothing builds it from
                q = self._targets(b)
            count = max(b.count, 1)  # a Python number: each mean is one scalar product
            ce, lse, top = soft_cross_entropy(b, q, count, with_stats)
            loss = self._loss(b, ce, teacher_logits, count)
            if not with_stats:
                return LossOutput(loss, None, None)
            nll, stats = batch_stats(b, q, lse, top, count)
        return LossOutput(loss, nll, stats)

    def targets(
        self, logits: Tensor, target: Tensor, mask: Tensor | None = None, kind: str = "classes"
    ) -> Tensor:
        """Dense q like `logits` (float32): ≥ 0, 0 where masked and on ignored rows; valid rows sum to 1."""
        with torch.no_grad():
            return self._targets(prepare(logits, target, mask, kind))

    def step(self, global_step: int) -> None:
        """Advance schedules to the trainer's global step (no schedule by default)."""

    def current(self) -> dict[str, float]:
        """Current hyper-parameters, for logging."""
        return {}

    def teacher_logits(self, batch: Any) -> list[Tensor] | None:
        """A frozen teacher's logits per head (only distillation has a teacher)."""
        return None

    def _targets(self, b: Batch) -> Tensor:
        raise NotImplementedError

    def _loss(self, b: Batch, ce: Tensor, teacher_logits: Tensor | None, count: int) -> Tensor:
        """The loss, a mean over the `count` valid items, from the mean soft cross-entropy `ce` (plain CE)."""
        if teacher_logits is not None:
            raise ValueError(f"teacher_logits given to {type(self).__name__}, which uses no teacher")
        return ce

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"
