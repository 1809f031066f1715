"""The tensor terms of every loss, each beside its formula: masking, soft cross-entropy, entropy, KD, stats.

Notation (DESIGN.md): logits z over a class axis with validity mask m, gold index y, p = softmax(z) over the
valid entries, target q (a distribution, 0 where m is 0). Each term takes a checked `Batch` (targets.prepare).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor

from labelsmooth.smoothing.targets import Batch


def without_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast switched off for the loss math (float32); no context at all where it is already off."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()  # entering torch.autocast costs more than the smaller loss ops


def masked_logits(b: Batch) -> Tensor:
    """z + (m - 1)·finfo.max: invalid entries at ≈ finfo.min (not -inf: 0·inf would make NaNs).

    finfo.min is added, not filled in: an add passes the gradient through untouched, where a fill (or
    `where`) costs a full bool-mask pass forward and another backward. Logits must be finite.
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
    """CE(q, p) = -Σ q·log p, the mean over the `count` valid items; per-item log-sum-exp and top logit.

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


@torch.no_grad()
def batch_stats(
    b: Batch, q: Tensor, lse: Tensor, top: Tensor, count: int
) -> tuple[Tensor, dict[str, Tensor]]:
    """Means over the `count` valid items of: NLL = lse - z_y, target entropy H(q), max p = exp(top - lse)
    and the logit gap = top - mean of the other valid logits. `lse`, `top` come from soft_cross_entropy."""
    z_gold = b.logits.gather(-1, b.target.unsqueeze(-1)).squeeze(-1)  # gold entries are valid: unmasked
    if b.weight is None:
        total, n_valid = b.logits.sum(-1), b.logits.shape[-1]
        gap = top - (total - top) / max(n_valid - 1, 1)
    else:
        total, n_valid = (b.logits * b.weight).sum(-1), b.weight.sum(-1)
        gap = torch.where(n_valid > 1, top - (total - top) / (n_valid - 1).clamp(min=1), 0.0)
    per_item = torch.stack([lse - z_gold, (top - lse).exp(), gap])
    nll, max_prob, logit_gap = torch.where(b.valid, per_item, 0.0).flatten(1).sum(1) / count
    target_entropy = -torch.special.xlogy(q, q).sum() / count
    return nll, {"target_entropy": target_entropy, "max_prob": max_prob, "logit_gap": logit_gap}
