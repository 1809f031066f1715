"""The shared part of the post-hoc calibrators (`calibrators.py`): checks, masking, the LBFGS fit.

A calibrator maps logits z to calibrated logits z' and is fitted by minimising the validation objective
L = -1/N Σ_n log softmax(z'_n)[y_n] (+ a penalty): full-batch LBFGS in float64 with a strong-Wolfe line
search, from the identity map, so a fit only moves downhill from the uncalibrated model. Fits run under
inference_mode(False) / enable_grad, as `fit_temperature` does, because Lightning evaluates under inference
mode. Invalid entries (-inf logits) are zeroed before a linear map, so it cannot carry a -inf (or 0·inf = NaN)
into the valid entries, and set back to -inf after it, passing no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, Self

import torch
from torch import Tensor

from labelsmooth.metrics.calibration import check_logits

HEAD_KINDS = ("classes", "pointer")
POINTER_HEADS = ("start", "end")


def odir_penalty(weight: Tensor, bias: Tensor, reg_off_diagonal: float, reg_bias: float) -> Tensor:
    """λ/(K(K-1)) Σ_{i≠j} W_ij² + μ/K Σ_j b_j²; with K = 1 there is no off-diagonal entry to penalise."""
    k = bias.numel()
    off_diagonal = weight - torch.diag(torch.diagonal(weight))
    return (
        reg_off_diagonal * off_diagonal.square().sum() / max(k * (k - 1), 1)
        + reg_bias * bias.square().sum() / k
    )


def mean_nll(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean -log softmax(logits)[label]; -inf entries get probability 0."""
    return -torch.log_softmax(logits, dim=1).gather(1, labels[:, None]).mean()


def zeroed(z: Tensor) -> tuple[Tensor, Tensor]:
    """The validity mask of z and z with its -inf entries set to 0 (they then add nothing to a linear map)."""
    valid = torch.isfinite(z)
    return valid, torch.where(valid, z, torch.zeros_like(z))


def remasked(valid: Tensor, out: Tensor) -> Tensor:
    # where(), not masked_fill on a product: the -inf entries then pass exactly zero gradient.
    return torch.where(valid, out, torch.full_like(out, -math.inf))


def minimise(name: str, params: list[Tensor], objective: Callable[[], Tensor], max_iter: int) -> None:
    """Full-batch LBFGS with strong-Wolfe line search on `params`, in place; one line if the fit diverges."""
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        final = objective()
    if not (bool(torch.isfinite(final)) and all(bool(torch.isfinite(p).all()) for p in params)):
        raise ValueError(
            f"calibration={name}: the fit diverged (non-finite parameters or objective); separable logits?"
        )


class Calibrator:
    """Base: checks the heads, fits under enable_grad (Lightning evaluates under inference mode), applies."""

    kinds: ClassVar[tuple[str, ...]] = HEAD_KINDS
    name: ClassVar[str] = ""
    # Appended to every metric after calibration (`test/entity/ece_ts`) and to its files.
    suffix: ClassVar[str] = ""
    fits: ClassVar[str] = ""  # what the empty-validation message says there is nothing to fit

    def __init__(self, max_iter: int) -> None:
        if max_iter < 1:
            raise ValueError(f"calibration={self.name}: max_iter={max_iter}: expected an integer >= 1")
        self.max_iter = max_iter
        self.fitted_kind: str | None = None
        self.head_names: tuple[str, ...] = ()

    @classmethod
    def check_kind(cls, kind: str) -> None:
        """A one-line ValueError unless this calibrator can calibrate heads of this kind (config checks call
        it on the class, before any model loads)."""
        if kind not in HEAD_KINDS:
            raise ValueError(f"calibration={cls.name}: head kind {kind!r}: expected one of {HEAD_KINDS}")
        if kind not in cls.kinds:
            raise ValueError(
                f"calibration={cls.name}: maps classes onto classes, but QA's start/end pointers range over "
                "the positions of a window, and positions are not classes; use calibration=temperature or "
                "calibration=vector"
            )

    def fit(self, heads: dict[str, tuple[Tensor, Tensor]], kind: str) -> Self:
        """Fit on the validation split's name -> (logits, labels): one classes head, or pointer start/end."""
        self.check_kind(kind)
        self.fitted_kind = None  # a refit that fails leaves no half-fitted map to apply
        names = tuple(heads)
        if kind == "classes" and len(names) != 1:
            raise ValueError(f"calibration={self.name}: classes heads {list(names)}: expected exactly one")
        if kind == "pointer" and sorted(names) != sorted(POINTER_HEADS):
            raise ValueError(
                f"calibration={self.name}: pointer heads {list(names)}: expected {POINTER_HEADS}"
            )
        if any(torch.as_tensor(z).numel() == 0 or torch.as_tensor(y).numel() == 0 for z, y in heads.values()):
            raise ValueError(
                f"calibration={self.name}: the validation set is empty; "
                f"there are no logits to fit {self.fits} on"
            )
        # A clone made outside inference mode is a normal tensor that autograd can use.
        with torch.inference_mode(False), torch.enable_grad():
            data = {}
            for head, (z, y) in heads.items():
                try:
                    data[head] = tuple(t.clone() for t in check_logits(z, y))
                except ValueError as err:
                    raise ValueError(f"calibration={self.name}: head {head!r}: {err}") from None
            self._fit(data, kind)
        self.fitted_kind, self.head_names = kind, names
        return self

    def apply(self, heads: dict[str, Tensor]) -> dict[str, Tensor]:
        """The calibrated logits of name -> logits (float64, CPU, same shapes, -inf kept)."""
        self._check_fitted()
        if sorted(heads) != sorted(self.head_names):
            raise ValueError(
                f"calibration={self.name}: heads {sorted(heads)}: fitted on {list(self.head_names)}"
            )
        out = {}
        with torch.no_grad():
            for head, logits in heads.items():
                z = torch.as_tensor(logits).detach().cpu().to(torch.float64)
                if z.dim() != 2 or bool(torch.isnan(z).any() | (z == math.inf).any()):
                    raise ValueError(
                        f"calibration={self.name}: head {head!r}: expected (N, K) logits, finite or -inf"
                    )
                out[head] = self._apply(head, z)
        return out

    def fitted(self) -> dict[str, float]:
        """A few scalars describing the fitted map, for metrics.json and W&B."""
        self._check_fitted()
        return self._fitted()

    def _check_fitted(self) -> None:
        if self.fitted_kind is None:
            raise RuntimeError(
                f"calibration={self.name}: not fitted; call fit() on the validation logits first"
            )

    def _check_width(self, head: str, z: Tensor, k: int) -> None:
        if z.shape[1] != k:
            raise ValueError(
                f"calibration={self.name}: head {head!r} has {z.shape[1]} classes, fitted on {k}"
            )

    def _fit(self, data: dict[str, tuple[Tensor, Tensor]], kind: str) -> None:
        raise NotImplementedError

    def _apply(self, head: str, z: Tensor) -> Tensor:
        raise NotImplementedError

    def _fitted(self) -> dict[str, float]:
        raise NotImplementedError
