"""The smoothings, one class each: none, ls, gls (target q), cp (an entropy penalty), kd (a teacher's KL).

Each class is its formula (DESIGN.md, Math) plus its argument checks; the shared plumbing (checked inputs,
the loss, statistics) is `Smoothing` in base.py, the tensor terms are in terms.py.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from labelsmooth.smoothing.base import Smoothing
from labelsmooth.smoothing.targets import Batch, gaussian_pointer, gaussian_tags, onehot, plus_gold, uniform
from labelsmooth.smoothing.terms import distillation_kl, entropy, masked_logits


class NoSmoothing(Smoothing):
    """q = onehot(y): plain cross-entropy."""

    def _targets(self, b: Batch) -> Tensor:
        return onehot(b)


class LabelSmoothing(Smoothing):
    """q = (1-α)·onehot(y) + α·U, U uniform over the valid entries (Szegedy et al. 2016)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = _unit("alpha", alpha)

    def current(self) -> dict[str, float]:
        return {"alpha": self.alpha}

    def _targets(self, b: Batch) -> Tensor:
        return plus_gold(b, uniform(b, self.alpha), 1.0 - self.alpha)


class GaussianLabelSmoothing(Smoothing):
    """q = (1-α)·onehot(y) + α·[(1-λ)·U + λ·G], G a Gaussian over positions (pointer) or neighbours (tags)."""

    def __init__(self, alpha: float, sigma: float, gaussian_weight: float = 1.0) -> None:
        self.alpha = _unit("alpha", alpha)
        self.sigma = _positive("sigma", sigma)
        self.gaussian_weight = _unit("gaussian_weight", gaussian_weight)

    def current(self) -> dict[str, float]:
        return {"alpha": self.alpha, "sigma": self.sigma, "gaussian_weight": self.gaussian_weight}

    def gaussian(self, b: Batch, mass: float) -> Tensor:
        """mass·G: the Gaussian part of the target for a checked batch."""
        if b.kind == "pointer":
            return gaussian_pointer(b, self.sigma, mass)
        if b.kind == "tags":
            return gaussian_tags(b, self.sigma, mass)
        raise ValueError(
            f"GaussianLabelSmoothing: kind={b.kind!r} has unordered classes (no distance for a Gaussian); "
            "expected kind 'pointer' or 'tags' (use LabelSmoothing for classes)"
        )

    def _targets(self, b: Batch) -> Tensor:
        alpha, lam = self.alpha, self.gaussian_weight
        if lam == 0.0 and b.kind != "classes":  # exactly ls(α); classes still raise below
            return plus_gold(b, uniform(b, alpha), 1.0 - alpha)
        spread = self.gaussian(b, alpha * lam)
        if lam < 1.0:
            spread.add_(uniform(b, alpha * (1.0 - lam)))
        return plus_gold(b, spread, 1.0 - alpha)


# The smoothings that only define a target q: what cp and kd accept as their `base`.
TARGET_SMOOTHINGS = (NoSmoothing, LabelSmoothing, GaussianLabelSmoothing)


class ConfidencePenalty(Smoothing):
    """loss = CE(q, p) - β_t·H(p) (Pereyra et al. 2017), β_t ramped linearly from 0 over `warmup_steps`."""

    def __init__(self, beta: float, warmup_steps: int = 0, base: Smoothing | None = None) -> None:
        self.beta = _number("beta", beta)
        if not (self.beta >= 0.0 and math.isfinite(self.beta)):
            raise ValueError(f"smoothing.beta={beta}: expected a finite value ≥ 0")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"smoothing.warmup_steps={warmup_steps!r}: expected an integer ≥ 0")
        self.warmup_steps = warmup_steps
        self.base = _base(base)
        self._step = 0

    @property
    def beta_t(self) -> float:
        """β at the current step: β·min(1, step/warmup_steps), or β without warm-up."""
        if self.warmup_steps == 0:
            return self.beta
        return self.beta * min(1.0, self._step / self.warmup_steps)

    def step(self, global_step: int) -> None:
        self._step = int(global_step)

    def current(self) -> dict[str, float]:
        return {"beta": self.beta_t, **self.base.current()}

    def _targets(self, b: Batch) -> Tensor:
        return self.base._targets(b)

    def _loss(self, b: Batch, ce: Tensor, teacher_logits: Tensor | None, count: int) -> Tensor:
        ce = super()._loss(b, ce, teacher_logits, count)
        beta = self.beta_t
        return ce if beta == 0.0 else ce - entropy(masked_logits(b), b.valid).sum() * (beta / count)


class Distillation(Smoothing):
    """loss = (1-w)·CE(q, p) + w·T²·KL(softmax(z_t/T) ‖ softmax(z/T)), frozen teacher (Hinton et al.).

    `teacher` names a checkpoint (a .ckpt file or a finished run directory); train.py checks it before any
    data is read and hands the loaded, frozen module over with `set_teacher`: no file I/O here.
    """

    def __init__(
        self, temperature: float, weight: float, teacher: Any, base: Smoothing | None = None
    ) -> None:
        self.temperature = _positive("temperature", temperature)
        self.weight = _unit("weight", weight)
        self.base = _base(base)
        if teacher is None or not str(teacher).strip():
            raise ValueError("smoothing.teacher: required for kd (a .ckpt file or a run directory); got none")
        self.teacher = str(teacher)
        # A plain list, not a submodule: the teacher never joins the student's parameters or state_dict.
        self._loaded: list[nn.Module] = []

    def set_teacher(self, module: nn.Module) -> None:
        """The frozen teacher (eval mode, no trainable parameter) whose logits the student matches."""
        if module.training or any(p.requires_grad for p in module.parameters()):
            raise ValueError("Distillation.set_teacher: expected a frozen module (eval mode, no grad)")
        self._loaded[:] = [module]

    @property
    def teacher_module(self) -> nn.Module:
        """The frozen teacher (after `set_teacher`)."""
        if not self._loaded:
            raise RuntimeError("Distillation: no teacher; train.py loads smoothing.teacher and sets it")
        return self._loaded[0]

    def current(self) -> dict[str, float]:
        return {"temperature": self.temperature, "weight": self.weight, **self.base.current()}

    def teacher_logits(self, batch: Any) -> list[Tensor]:
        """The frozen teacher's logits for every head of `batch` (no gradient)."""
        teacher = self.teacher_module
        device = device_of(batch)
        if device is not None and teacher.device != device:
            teacher.to(device)  # loaded on the CPU before the trainer moved the student: follow the batch
        with torch.no_grad():
            return [h.logits for h in teacher.heads(batch)]

    def _targets(self, b: Batch) -> Tensor:
        return self.base._targets(b)

    def _loss(self, b: Batch, ce: Tensor, teacher_logits: Tensor | None, count: int) -> Tensor:
        if teacher_logits is None:
            raise ValueError("Distillation: teacher_logits required (from teacher_logits(batch))")
        w = self.weight
        if w == 0.0:
            return ce
        kd = distillation_kl(b, teacher_logits, self.temperature).sum() / count
        return kd * w if w == 1.0 else torch.lerp(ce, kd, w)


def device_of(batch: Any) -> torch.device | None:
    """The device of the first tensor in a batch (dict, list or tensor)."""
    if isinstance(batch, Tensor):
        return batch.device
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, list | tuple) else []
    for v in values:
        found = device_of(v)
        if found is not None:
            return found
    return None


# --- argument checks: each error is one line naming the config key ---------------------------------------
def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"smoothing.{key}={value!r}: expected a number")
    return float(value)


def _unit(key: str, value: Any) -> float:
    x = _number(key, value)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"smoothing.{key}={value}: expected a value in [0, 1]")
    return x


def _positive(key: str, value: Any) -> float:
    x = _number(key, value)
    if not (x > 0.0 and math.isfinite(x)):
        raise ValueError(f"smoothing.{key}={value}: expected a finite value > 0")
    return x


def _base(value: Any) -> Smoothing:
    if value is None:
        return NoSmoothing()
    if not isinstance(value, TARGET_SMOOTHINGS):
        names = ", ".join(c.__name__ for c in TARGET_SMOOTHINGS)
        raise ValueError(f"smoothing.base={value!r}: expected None or a target smoothing ({names})")
    return value
