"""Soft-target cross-entropy, entropy and KD terms, and the smoothing classes that combine them in a loss."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from labelsmooth.smoothing.targets import (
    Batch,
    gaussian_pointer,
    gaussian_tags,
    onehot,
    plus_gold,
    prepare,
    uniform,
)


class LossOutput(NamedTuple):
    """The training loss, plain NLL beside it, and detached statistics of the batch (all scalars)."""

    loss: Tensor
    nll: Tensor
    stats: dict[str, Tensor]


def without_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast switched off for the loss math (float32); no context at all where it is already off."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()  # entering torch.autocast costs more than the smaller loss ops


# --- the terms ----------------------------------------------------------------------------------------------
def masked_logits(b: Batch) -> Tensor:
    """Logits with invalid entries at ≈ finfo.min (not -inf: 0·inf would make NaNs); logits must be finite.

    finfo.min is added, not filled in: an add passes the gradient through untouched, where a fill (or
    `where`) costs a full bool-mask pass forward and another backward.
    """
    if b.weight is None:
        return b.logits
    return b.logits.add(b.weight - 1.0, alpha=torch.finfo(b.logits.dtype).max)  # + 0 or + finfo.min


class FusedSoftCrossEntropy(torch.autograd.Function):
    """Σ over valid items of -Σ q·log softmax(z) for unmasked logits, with the fused gradient softmax(z) - q.

    Forward returns (total, lse, top): log-sum-exp and max logit per item (not differentiable), for the
    statistics. Fused because torch's last-axis log_softmax is slow for few classes on CPU (NER's 9 tags).
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, q: Tensor, valid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        top = logits.amax(-1, keepdim=True)
        shifted = logits - top
        e = shifted.exp()
        s = e.sum(-1, keepdim=True)  # ≥ 1: the top entry weighs exp(0)
        log_s = s.log()
        w = valid.to(logits.dtype).unsqueeze(-1)
        # -Σ q·(shifted - log s) = Σq·log s - Σ q·shifted, with Σq = 1 on valid rows and 0 on ignored ones.
        total = torch.dot(log_s.view(-1), w.view(-1)) - torch.dot(q.view(-1), shifted.view(-1))
        ctx.save_for_backward(e, s, q, w)
        lse, top = (log_s + top).squeeze(-1), top.squeeze(-1)
        ctx.mark_non_differentiable(lse, top)
        return total, lse, top

    @staticmethod
    def backward(ctx: Any, grad: Tensor, *_: Tensor) -> tuple[Tensor, None, None]:
        e, s, q, w = ctx.saved_tensors
        return (e * (w / s) - q) * grad, None, None


def soft_cross_entropy(
    b: Batch, q: Tensor, count: int, with_stats: bool
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """-Σ q·log p, the mean over the `count` valid items; per-item log-sum-exp and top logit for statistics.

    Masked axes (pointer) are long: there torch's log_softmax is one fast kernel (and takes finfo.min
    entries fast, where a plain exp is slow), and plain autograd beats a Python-level Function. That path
    computes log-sum-exp and top only `with_stats` (else None); the fused path has them for free.
    """
    if b.weight is None:
        total, lse, top = FusedSoftCrossEntropy.apply(b.logits, q, b.valid)
        return total / count, lse, top
    z = masked_logits(b)
    log_p = torch.log_softmax(z, -1)
    # q = 0 wherever log p ≈ finfo.min, so every term is finite; the sign and the mean in one scalar product.
    mean = torch.dot(q.view(-1), log_p.view(-1)) * (-1.0 / count)
    if not with_stats:
        return mean, None, None
    with torch.no_grad():
        top = z.amax(-1)
        return mean, top - log_p.amax(-1), top  # max log p = -log Σ exp(z - top), so lse = top - max log p


def entropy(z: Tensor, valid: Tensor) -> Tensor:
    """H(p) = -Σ p·log p per item (z masked with finfo.min, so p is exactly 0 there); 0 for ignored items."""
    log_p = torch.log_softmax(z, -1)
    return torch.where(valid, -(log_p.exp() * log_p).sum(-1), 0.0)


def distillation_kl(b: Batch, teacher_logits: Tensor, temperature: float) -> Tensor:
    """T²·KL(softmax(z_t/T) ‖ softmax(z/T)) per item over the same valid entries; 0 for ignored items."""
    if tuple(teacher_logits.shape) != tuple(b.logits.shape):
        shapes = f"{tuple(teacher_logits.shape)}: expected the student's {tuple(b.logits.shape)}"
        raise ValueError(f"teacher_logits {shapes}")
    teacher = b._replace(logits=teacher_logits.detach().to(b.logits.dtype) / temperature)
    # Divide before masking, so that T < 1 cannot push finfo.min to -inf.
    log_ps = torch.log_softmax(masked_logits(b._replace(logits=b.logits / temperature)), -1)
    log_pt = torch.log_softmax(masked_logits(teacher), -1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1)
    return torch.where(b.valid, kl * (temperature * temperature), 0.0)


class Pass(NamedTuple):
    """One forward pass: checked batch, target, per-item log-sum-exp and top logit, valid count, loss."""

    b: Batch
    q: Tensor
    lse: Tensor | None  # None unless statistics were asked for
    top: Tensor | None
    count: int  # valid items, at least 1
    loss: Tensor


@torch.no_grad()
def batch_stats(f: Pass) -> tuple[Tensor, dict[str, Tensor]]:
    """Plain NLL and the logged statistics (mean target entropy, max prob, logit gap) over valid items."""
    b = f.b
    z_gold = b.logits.gather(-1, b.target.unsqueeze(-1)).squeeze(-1)  # gold entries are valid: unmasked
    if b.weight is None:
        total, n_valid = b.logits.sum(-1), b.logits.shape[-1]
        gap = f.top - (total - f.top) / max(n_valid - 1, 1)
    else:
        total, n_valid = (b.logits * b.weight).sum(-1), b.weight.sum(-1)
        gap = torch.where(n_valid > 1, f.top - (total - f.top) / (n_valid - 1).clamp(min=1), 0.0)
    per_item = torch.stack([f.lse - z_gold, (f.top - f.lse).exp(), gap])
    nll, max_prob, logit_gap = torch.where(b.valid, per_item, 0.0).flatten(1).sum(1) / f.count
    target_entropy = -torch.special.xlogy(f.q, f.q).sum() / f.count
    return nll, {"target_entropy": target_entropy, "max_prob": max_prob, "logit_gap": logit_gap}


# --- validation -------------------------------------------------------------------------------------------
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


# --- the smoothings ---------------------------------------------------------------------------------------
class Smoothing:
    """Base: a target distribution q per item and the loss against it (subclasses define `_targets`)."""

    def targets(
        self, logits: Tensor, target: Tensor, mask: Tensor | None = None, kind: str = "classes"
    ) -> Tensor:
        """Dense q like `logits` (float32): ≥ 0, 0 where masked and on ignored rows; valid rows sum to 1."""
        with torch.no_grad():
            return self._targets(prepare(logits, target, mask, kind))

    def compute(
        self,
        logits: Tensor,
        target: Tensor,
        mask: Tensor | None = None,
        kind: str = "classes",
        teacher_logits: Tensor | None = None,
    ) -> LossOutput:
        """Regularised loss (mean over valid items), plain NLL and statistics, computed in float32."""
        with without_autocast(logits.device.type):
            f = self._forward(logits, target, mask, kind, teacher_logits, with_stats=True)
            nll, stats = batch_stats(f)
        return LossOutput(f.loss, nll, stats)

    def loss(
        self,
        logits: Tensor,
        target: Tensor,
        mask: Tensor | None = None,
        kind: str = "classes",
        teacher_logits: Tensor | None = None,
    ) -> Tensor:
        """The regularised training loss alone (== compute(...).loss, without the statistics)."""
        with without_autocast(logits.device.type):
            return self._forward(logits, target, mask, kind, teacher_logits, with_stats=False).loss

    def _forward(
        self,
        logits: Tensor,
        target: Tensor,
        mask: Tensor | None,
        kind: str,
        teacher_logits: Tensor | None,
        with_stats: bool,
    ) -> Pass:
        b = prepare(logits, target, mask, kind)
        with torch.no_grad():  # q is a constant of the loss, whatever a smoothing builds it from
            q = self._targets(b)
        count = max(b.count, 1)  # a Python number: each mean is one scalar product
        ce, lse, top = soft_cross_entropy(b, q, count, with_stats)
        return Pass(b, q, lse, top, count, self._loss(b, ce, teacher_logits, count))

    def step(self, global_step: int) -> None:
        """Advance schedules to the trainer's global step (no schedule by default)."""

    def current(self) -> dict[str, float]:
        """Current hyper-parameters, for logging."""
        return {}

    def teacher_logits(self, batch: Any) -> list[Tensor] | None:
        """A frozen teacher's logits per head (only distillation has a teacher)."""
        return None

    def attach(self, module_cls: type, task_name: str, device: Any) -> None:
        """Load what the smoothing needs from the task (only distillation loads a teacher)."""

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


def resolve_teacher(teacher: Any) -> Path:
    """A `.ckpt` file, or a run directory's checkpoints/best.ckpt (else last.ckpt)."""
    if teacher is None or (isinstance(teacher, str) and not teacher.strip()):
        raise ValueError("smoothing.teacher: required for kd (a .ckpt file or a run directory); got none")
    path = Path(str(teacher)).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise ValueError(f"smoothing.teacher: no checkpoint or run directory at {path}")
    for name in ("best.ckpt", "last.ckpt"):
        if (path / "checkpoints" / name).is_file():
            return path / "checkpoints" / name
    raise ValueError(f"smoothing.teacher: run directory {path} has no checkpoints/best.ckpt or last.ckpt")


class Distillation(Smoothing):
    """loss = (1-w)·CE(q, p) + w·T²·KL(softmax(z_t/T) ‖ softmax(z/T)), frozen teacher (Hinton et al.)."""

    def __init__(
        self, temperature: float, weight: float, teacher: Any, base: Smoothing | None = None
    ) -> None:
        self.temperature = _positive("temperature", temperature)
        self.weight = _unit("weight", weight)
        self.teacher = str(teacher) if teacher is not None else None
        self.checkpoint = resolve_teacher(teacher)
        self.base = _base(base)
        # A plain list, not a submodule: the teacher never joins the student's parameters or state_dict.
        self._loaded: list[nn.Module] = []

    @property
    def teacher_module(self) -> nn.Module:
        """The loaded, frozen teacher (after `attach`)."""
        if not self._loaded:
            raise RuntimeError("Distillation: no teacher loaded; SmoothingCallback.setup calls attach()")
        return self._loaded[0]

    def current(self) -> dict[str, float]:
        return {"temperature": self.temperature, "weight": self.weight, **self.base.current()}

    def attach(self, module_cls: type, task_name: str, device: Any) -> None:
        """Load the teacher checkpoint as `module_cls`, after checking it was trained on `task_name`."""
        if self._loaded:
            return
        ckpt = torch.load(self.checkpoint, map_location="cpu", weights_only=False)
        found = ckpt.get("task_name") if isinstance(ckpt, dict) else None
        if found != task_name:
            what = f"is a checkpoint of task {found!r}, expected {task_name!r}"
            raise ValueError(f"smoothing.teacher: {self.checkpoint} {what}")
        # Our own checkpoint: its hyper-parameters hold config objects (model specs), so not weights-only.
        teacher = module_cls.load_from_checkpoint(
            self.checkpoint, map_location=device, weights_only=False, optimizer=None
        )
        teacher.eval()
        teacher.requires_grad_(False)
        self._loaded.append(teacher)

    def teacher_logits(self, batch: Any) -> list[Tensor]:
        """The frozen teacher's logits for every head of `batch` (no gradient)."""
        teacher = self.teacher_module
        device = _device_of(batch)
        if device is not None and teacher.device != device:
            teacher.to(device)  # setup runs before the trainer moves the student; follow the batch
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


def _device_of(batch: Any) -> torch.device | None:
    """The device of the first tensor in a batch (dict, list or tensor)."""
    if isinstance(batch, Tensor):
        return batch.device
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, list | tuple) else []
    for v in values:
        found = _device_of(v)
        if found is not None:
            return found
    return None
