"""Target distributions q (one-hot, uniform, Gaussian) on a class axis with a validity mask; input checks."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

# Items whose target is this carry no loss (torch's `ignore_index` default, used by HF tokenisers' labels).
IGNORE_INDEX = -100
# Pointer kind: the [CLS] position is the no-answer target of SQuAD 2.0.
CLS_INDEX = 0
KINDS = ("classes", "pointer", "tags")
_NDIM = {"classes": 2, "pointer": 2, "tags": 3}


class Head(NamedTuple):
    """What a task hands over for one output head: logits on a class axis, gold indices, mask, kind."""

    name: str
    logits: Tensor
    target: Tensor
    mask: Tensor | None
    kind: str


class Batch(NamedTuple):
    """Checked inputs: logits in the loss dtype, targets safe to index (ignored -> 0), masks."""

    logits: Tensor  # float32 (float64 kept for gradcheck), unmasked
    target: Tensor  # gold index per item; ignored items replaced by 0
    mask: Tensor | None  # bool like logits, or None = every entry valid
    valid: Tensor  # bool per item: target != IGNORE_INDEX
    kind: str


def loss_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for float16/bfloat16/float32 logits (right under autocast); float64 stays float64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def prepare(logits: Tensor, target: Tensor, mask: Tensor | None = None, kind: str = "classes") -> Batch:
    """Check shapes, dtypes and targets of one head and cast its logits to the loss dtype."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: expected one of {KINDS}")
    shape = tuple(logits.shape)
    if logits.ndim != _NDIM[kind] or not logits.is_floating_point():
        raise ValueError(f"kind={kind!r}: logits {shape} {logits.dtype}; expected {_NDIM[kind]}-d floating")
    if tuple(target.shape) != shape[:-1] or target.is_floating_point() or target.dtype == torch.bool:
        got = f"{tuple(target.shape)} {target.dtype}"
        raise ValueError(f"kind={kind!r}: target {got}; expected integers shaped {shape[:-1]}")
    if mask is not None:
        if kind == "tags":
            raise ValueError("kind='tags': mask must be None (all classes valid; ignored words are -100)")
        if tuple(mask.shape) != shape or mask.dtype != torch.bool:
            raise ValueError(f"kind={kind!r}: mask {tuple(mask.shape)} {mask.dtype}; expected bool {shape}")
    num_classes = shape[-1]
    target = target.long()  # gather/index need int64 (a no-op for int64 targets)
    valid = target != IGNORE_INDEX
    safe = target.clamp(0, num_classes - 1)
    bad = valid & (safe != target)
    if mask is not None:
        bad |= valid & ~mask.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    if bool(bad.any()):  # one host sync per call; a wrong target must not train silently
        where = tuple(bad.nonzero()[0].tolist())
        raise ValueError(
            f"kind={kind!r}: target {int(target[where])} at item {list(where)} is outside [0, {num_classes}) "
            f"or points at a masked entry; expected a valid index or {IGNORE_INDEX}"
        )
    return Batch(logits.to(loss_dtype(logits.dtype)), safe, mask, valid, kind)


def onehot(b: Batch) -> Tensor:
    """onehot(y) on the class axis; rows of ignored items are zero."""
    hot = b.valid.to(b.logits.dtype).unsqueeze(-1)
    return torch.zeros_like(b.logits).scatter_(-1, b.target.unsqueeze(-1), hot)


def uniform(b: Batch) -> Tensor:
    """U over the valid entries of each valid item (ε over ALL valid classes, as PyTorch/timm)."""
    if b.mask is None:  # one column, broadcast by the caller: no need to materialise N×K equal values
        return (b.valid.to(b.logits.dtype) / b.logits.shape[-1]).unsqueeze(-1)
    m = (b.mask & b.valid.unsqueeze(-1)).to(b.logits.dtype)
    return m / m.sum(-1, keepdim=True).clamp(min=1)


def gaussian_table(sigma: float, length: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """exp(-d²/(2σ²)) for d = 0..length-1 (a lookup table: cheaper than an exp per entry, and exact)."""
    d = torch.arange(length, device=device, dtype=torch.float64)
    return torch.exp(d * d * (-0.5 / (sigma * sigma))).to(dtype)


def gaussian_pointer(b: Batch, sigma: float) -> Tensor:
    """G_i ∝ m_i·exp(-(i-y)²/2σ²) over positions, normalised over valid ones; G = onehot(CLS) if y is CLS."""
    length = b.logits.shape[-1]
    dtype, device = b.logits.dtype, b.logits.device
    # Table rows: the Gaussian by distance |i - y|, then onehot at distance 0 for unanswerable items.
    delta = torch.zeros(length, device=device, dtype=dtype)
    delta[0] = 1.0
    table = torch.cat([gaussian_table(sigma, length, dtype, device), delta])
    distance = (torch.arange(length, device=device) - b.target.unsqueeze(-1)).abs_()
    row = torch.where(b.target == CLS_INDEX, length, 0).unsqueeze(-1)
    w = table.index_select(0, (distance + row).view(-1)).view(distance.shape)
    if b.mask is not None:
        w = w * b.mask
    # The gold position weighs exp(0) = 1, so a valid item's sum is ≥ 1; the clamp only guards ignored rows.
    norm = b.valid.to(dtype).unsqueeze(-1) / w.sum(-1, keepdim=True).clamp(min=1)
    return w * norm


def gaussian_tags(b: Batch, sigma: float) -> Tensor:
    """G_t = Σ_j w_tj·onehot(y_j), w_tj ∝ exp(-(r_t-r_j)²/2σ²) over the valid words j (r = rank)."""
    batch, length, num_classes = b.logits.shape
    dtype, device = b.logits.dtype, b.logits.device
    # Pack each sequence's valid words to the front, in order, so that slot = rank; the packed axis comes
    # first, (T, B), so that one matmul smooths every sequence. Ignored words go to a spare last slot.
    rank = (b.valid.cumsum(-1) - 1).clamp(min=0)
    slot = rank * batch + torch.arange(batch, device=device).unsqueeze(-1)
    dest = torch.where(b.valid, slot, length * batch).view(-1)
    labels = torch.full((length * batch + 1,), num_classes, device=device, dtype=b.target.dtype)
    labels = labels.scatter_(0, dest, b.target.view(-1))[:-1]  # empty slots hold num_classes: no class
    classes = torch.arange(num_classes, device=device)
    packed = (labels.view(length, batch, 1) == classes).to(dtype).view(length, batch * num_classes)
    # Toeplitz kernel K[r, s] = exp(-(r-s)²/2σ²), unfolded from the table of |r - s|.
    table = gaussian_table(sigma, length, dtype, device)
    kernel = torch.cat([table.flip(0), table[1:]]).unfold(0, length, 1).flip(0)
    smooth = (kernel @ packed).view(length * batch, num_classes)
    at = smooth.index_select(0, slot.view(-1)).view(batch, length, num_classes)
    # Σ_c of the smoothed onehots is Σ_j w_tj, the normaliser; ≥ 1 on valid words (w_tt = 1).
    norm = b.valid.to(dtype) / at.sum(-1).clamp(min=1)
    return at * norm.unsqueeze(-1)


def mix(b: Batch, alpha: float, spread: Tensor) -> Tensor:
    """(1-α)·onehot(y) + α·spread, dense (spread may broadcast, and must be zero on ignored rows)."""
    if alpha == 0.0:
        return onehot(b)
    q = spread * alpha
    if q.shape != b.logits.shape:
        q = q.expand_as(b.logits).contiguous()
    hot = (b.valid.to(q.dtype) * (1.0 - alpha)).unsqueeze(-1)
    return q.scatter_add_(-1, b.target.unsqueeze(-1), hot)
