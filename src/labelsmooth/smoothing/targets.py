"""Target distributions q (one-hot, uniform, Gaussian) on a class axis with a validity mask; input checks."""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
from torch import Tensor

from labelsmooth.constants import CLS_INDEX, IGNORE_INDEX

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
    # The mask as 1.0 / 0.0 in the loss dtype (or None = every entry valid): CPU kernels mixing bool and
    # float tensors are several times slower than float ones, so the mask is converted once, here.
    weight: Tensor | None
    valid: Tensor  # bool per item: target != IGNORE_INDEX
    count: int  # valid items
    kind: str

    @property
    def all_valid(self) -> bool:
        """No ignored item (QA pointers, images): per-item masses can be plain numbers, saving ops."""
        return self.count == self.valid.numel()


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
    dtype, num_classes = loss_dtype(logits.dtype), shape[-1]
    if target.dtype != torch.int64:
        target = target.long()  # gather and index_select need int64
    valid = target != IGNORE_INDEX
    safe = target.clamp(0, num_classes - 1)
    ok = safe == target
    if mask is not None:
        ok &= mask.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    bad = valid > ok  # valid and not ok
    if bool(bad.any()):  # one host sync per call; a wrong target must not train silently
        where = tuple(bad.nonzero()[0].tolist())
        raise ValueError(
            f"kind={kind!r}: target {int(target[where])} at item {list(where)} is outside [0, {num_classes}) "
            f"or points at a masked entry; expected a valid index or {IGNORE_INDEX}"
        )
    # Through uint8: torch's CPU bool-to-float copy is ~3× slower than the uint8 one (same bytes).
    weight = None if mask is None else mask.view(torch.uint8).to(dtype)
    count = int(torch.count_nonzero(valid))  # a second host sync, right after the first
    return Batch(logits.to(dtype), safe, weight, valid, count, kind)


def item_mass(b: Batch, mass: float) -> Tensor | float:
    """`mass` per valid item and 0 per ignored one; a plain number when every item is valid."""
    return mass if b.all_valid else b.valid.to(b.logits.dtype) * mass


def row_scale(b: Batch, total: Tensor, mass: float) -> Tensor:
    """Per-item factor that scales a row of non-negative weights summing to `total` (keepdim) to `mass`,
    or to 0 for an ignored item."""
    if b.all_valid:  # every row holds its valid gold entry, which weighs 1: total ≥ 1
        return mass / total
    return b.valid.unsqueeze(-1) / total.clamp(min=1) * mass  # an ignored row's total may be 0


def plus_gold(b: Batch, spread: Tensor, gold: float) -> Tensor:
    """spread + gold·onehot(y), dense: the last step of every target (spread must be 0 on ignored rows).

    `spread` may be a column that broadcasts over the class axis; a dense one is updated in place.
    """
    q = spread if spread.shape == b.logits.shape else spread.expand_as(b.logits).contiguous()
    index, hot = b.target.unsqueeze(-1), item_mass(b, gold)
    # scatter_add_ (not scatter_ with reduce): deterministic on CUDA under deterministic=true.
    hot = hot.unsqueeze(-1) if isinstance(hot, Tensor) else torch.full_like(index, hot, dtype=q.dtype)
    return q.scatter_add_(-1, index, hot)


def onehot(b: Batch) -> Tensor:
    """onehot(y) on the class axis; rows of ignored items are zero."""
    return plus_gold(b, torch.zeros_like(b.logits), 1.0)


# The spreads below each carry a total `mass` per valid item, so that a smoothing composes its target as
# Σ mass_k·spread_k + (1 - Σ mass_k)·onehot(y) without a separate pass to scale each spread.


def uniform(b: Batch, mass: float) -> Tensor:
    """mass·U, U uniform over the valid entries of each valid item (ε over ALL valid classes, as timm)."""
    # Each valid item shares `mass` among its valid entries; an ignored item's row is zero.
    if b.weight is None:  # one column, broadcast by plus_gold: no need to materialise N×K equal values
        share = item_mass(b, mass / b.logits.shape[-1])
        return share.unsqueeze(-1) if isinstance(share, Tensor) else torch.full_like(b.logits, share)
    return b.weight * row_scale(b, b.weight.sum(-1, keepdim=True), mass)


@functools.lru_cache(maxsize=8)
def gaussian_kernel(sigma: float, length: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """K[r, s] = exp(-(r-s)²/2σ²) for r, s < length, the Toeplitz kernel over positions or word ranks.

    Built once per (σ, length, dtype, device) and only read (index_select, matmul) afterwards: a step
    pays a lookup instead of an exp per entry.
    """
    # Outside inference mode: a first call under validation must not cache an inference tensor.
    with torch.inference_mode(False):
        d = torch.arange(length, device=device, dtype=torch.float64)
        # (Δ/σ)² rather than Δ²/σ²: a tiny σ gives exp(-inf) = 0 off the diagonal, never 0·inf.
        return torch.exp(-0.5 * ((d.unsqueeze(-1) - d) / sigma) ** 2).to(dtype)


@functools.lru_cache(maxsize=8)
def pointer_kernel(sigma: float, length: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The Gaussian kernel with row CLS replaced by onehot(CLS): the unnormalised G for each gold position."""
    with torch.inference_mode(False):
        rows = gaussian_kernel(sigma, length, dtype, device).clone()
        rows[CLS_INDEX] = 0.0
        rows[CLS_INDEX, CLS_INDEX] = 1.0
        return rows


def gaussian_pointer(b: Batch, sigma: float, mass: float) -> Tensor:
    """mass·G, G_i ∝ m_i·exp(-(i-y)²/2σ²) over positions, normalised over the valid ones; CLS: onehot."""
    length = b.logits.shape[-1]
    w = pointer_kernel(sigma, length, b.logits.dtype, b.logits.device).index_select(0, b.target)
    if b.weight is not None:
        w.mul_(b.weight)
    return w.mul_(row_scale(b, w.sum(-1, keepdim=True), mass))  # the gold position weighs exp(0) = 1


def gaussian_tags(b: Batch, sigma: float, mass: float) -> Tensor:
    """mass·G, G_t = Σ_j w_tj·onehot(y_j), w_tj ∝ exp(-(r_t-r_j)²/2σ²) over the valid words j (r = rank)."""
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
    smooth = (gaussian_kernel(sigma, length, dtype, device) @ packed).view(length * batch, num_classes)
    at = smooth.index_select(0, slot.view(-1)).view(batch, length, num_classes)
    # Σ_c of the smoothed onehots is Σ_j w_tj, the normaliser (w_tt = 1 for the word itself).
    return at.mul_(row_scale(b, at.sum(-1, keepdim=True), mass))
