"""Post-hoc calibrators: fitted on a head's validation logits, applied to its test logits.

Each maps logits z to calibrated logits z' (softmax(z') is the calibrated distribution) and is fitted by
minimising the validation objective  L = -1/N Σ_n log softmax(z'_n)[y_n]  (+ a penalty), full-batch LBFGS in
float64 with a strong-Wolfe line search, starting at the identity map: a fit only moves downhill from there.

- temperature (Guo et al. 2017):  z' = z / T, T > 0 (fitted as log T, by `fit_temperature`). QA's start and
  end pointers share one T: their items are pooled, as the temperature scaling callback always did.
- vector (Guo et al. 2017):  classes: z' = w ⊙ z + b, w, b ∈ R^K.
  pointers, per head h ∈ {start, end}:  z'_i = z_i / T_h + b_h·[i = 0].  Positions are not classes: L varies
  and position 7 means nothing across windows, so a per-position weight or bias would fit noise. Position 0,
  the [CLS] "no answer" token, is the one position with the same meaning in every window, so it alone gets a
  bias; a bias on every position would change nothing, softmax being shift-invariant. With b_h = 0 it is a
  temperature per head.
- matrix (Guo et al. 2017):  z' = W z + b, W ∈ R^{K×K}.
- dirichlet (Kull et al. 2019):  z' = W log softmax(z) + b, a matrix scaling of the log-probabilities.
Matrix and dirichlet add Kull et al.'s ODIR penalty (off-diagonal and intercept regularisation) to the mean
NLL:  λ/(K(K-1)) Σ_{i≠j} W_ij² + μ/K Σ_j b_j²   (λ = reg_off_diagonal, μ = reg_bias),
which shrinks W towards a diagonal (a class-wise scaling, not the identity) and b towards 0. Its sums are
averages over the entries, so a λ means the same at any K. Kull et al. choose λ, μ per data set by
cross-validation on the calibration set; a config fits once, so dirichlet defaults to a fixed mild
λ = μ = 0.01: off-diagonal weights of 1 on average cost 0.01 nats against an NLL of order 0.1-1, enough to
keep K² + K parameters from chasing a small validation set, not enough to pin W to a diagonal. Matrix
defaults to λ = μ = 0, Guo et al.'s unregularised matrix scaling. Both are YAML keys.

Invalid entries (-inf: a class not allowed for the item, a position outside the context) stay -inf and pass no
gradient: they are zeroed before the linear map, so W cannot carry a -inf (or 0·inf = NaN) into the valid
entries, and set back to -inf after it. Every output is float64 on the CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from labelsmooth.metrics.calibration import fit_temperature, scaled_log_probs
from labelsmooth.metrics.calibrator_base import (
    HEAD_KINDS,
    POINTER_HEADS,
    Calibrator,
    mean_nll,
    minimise,
    odir_penalty,
    remasked,
    zeroed,
)

__all__ = [
    "HEAD_KINDS",
    "POINTER_HEADS",
    "Calibrator",
    "DirichletScaler",
    "MatrixScaler",
    "TemperatureScaler",
    "VectorScaler",
    "odir_penalty",
]


def _pointer_vector(z: Tensor, temperature: Tensor, null_bias: Tensor) -> Tensor:
    """z_i / T + b·[i = 0], -inf kept (position 0 too, where a window marks it invalid)."""
    valid, finite = zeroed(z)
    null = torch.zeros(z.shape[1], dtype=z.dtype)
    null[0] = 1.0
    return remasked(valid, finite / temperature + null_bias * null)


class TemperatureScaler(Calibrator):
    """z' = z / T, one T for all heads (QA's start and end items pooled)."""

    name = "temperature"
    suffix = "ts"
    fits = "a temperature"

    def __init__(self, max_iter: int = 100) -> None:
        super().__init__(max_iter)
        self.temperature: float | None = None

    def _fit(self, data: dict[str, tuple[Tensor, Tensor]], kind: str) -> None:
        # Start and end windows have the same width in the QA task; -inf padding covers any that do not.
        width = max(z.shape[1] for z, _ in data.values())
        z = torch.cat([F.pad(z, (0, width - z.shape[1]), value=-math.inf) for z, _ in data.values()])
        y = torch.cat([y for _, y in data.values()])
        self.temperature = fit_temperature(z, y, self.max_iter)

    def _apply(self, head: str, z: Tensor) -> Tensor:
        assert self.temperature is not None
        return z / self.temperature  # T > 0, so -inf stays -inf

    def _fitted(self) -> dict[str, float]:
        assert self.temperature is not None
        return {"temperature": self.temperature}


class VectorScaler(Calibrator):
    """classes: z' = w ⊙ z + b; pointers: z'_i = z_i / T_h + b_h·[i = 0] per head h."""

    name = "vector"
    suffix = "vs"
    fits = "a vector scaling"

    def __init__(self, max_iter: int = 500) -> None:
        super().__init__(max_iter)
        self.weight: Tensor | None = None  # classes: (K,) float64
        self.bias: Tensor | None = None  # classes: (K,) float64
        self.temperatures: dict[str, float] = {}  # pointer: head -> T_h
        self.null_biases: dict[str, float] = {}  # pointer: head -> b_h

    def _fit(self, data: dict[str, tuple[Tensor, Tensor]], kind: str) -> None:
        if kind == "pointer":
            # The heads share no parameter, so fitting each on its own minimises their summed NLL.
            for head, (z, y) in data.items():
                self.temperatures[head], self.null_biases[head] = self._fit_pointer_head(z, y)
            return
        ((z, y),) = data.values()
        valid, finite = zeroed(z)
        w = torch.ones(z.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
        minimise(self.name, [w, b], lambda: mean_nll(remasked(valid, finite * w + b), y), self.max_iter)
        self.weight, self.bias = w.detach(), b.detach()

    def _fit_pointer_head(self, z: Tensor, y: Tensor) -> tuple[float, float]:
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)  # T = exp(log T) > 0, start at 1
        null_bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
        minimise(
            self.name,
            [log_t, null_bias],
            lambda: mean_nll(_pointer_vector(z, log_t.exp(), null_bias), y),
            self.max_iter,
        )
        return float(log_t.detach().exp()), float(null_bias.detach())

    def _apply(self, head: str, z: Tensor) -> Tensor:
        if self.fitted_kind == "pointer":
            t, b = (torch.tensor(d[head], dtype=torch.float64) for d in (self.temperatures, self.null_biases))
            return _pointer_vector(z, t, b)
        assert self.weight is not None and self.bias is not None
        self._check_width(head, z, self.weight.numel())
        valid, finite = zeroed(z)
        return remasked(valid, finite * self.weight + self.bias)

    def _fitted(self) -> dict[str, float]:
        if self.fitted_kind == "pointer":
            return {
                **{f"temperature_{h}": t for h, t in self.temperatures.items()},
                **{f"null_bias_{h}": b for h, b in self.null_biases.items()},
            }
        assert self.weight is not None and self.bias is not None
        return {"weight_trace_mean": float(self.weight.mean()), "bias_norm": float(self.bias.norm())}


class MatrixScaler(Calibrator):
    """z' = W x + b with x = z, ODIR-penalised; a map from classes to classes, so classes heads only."""

    kinds = ("classes",)
    name = "matrix"
    suffix = "ms"
    fits = "a matrix scaling"

    def __init__(self, max_iter: int = 500, reg_off_diagonal: float = 0.0, reg_bias: float = 0.0) -> None:
        super().__init__(max_iter)
        for key, value in (("reg_off_diagonal", reg_off_diagonal), ("reg_bias", reg_bias)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"calibration={self.name}: {key}={value}: expected a finite value >= 0")
        self.reg_off_diagonal = float(reg_off_diagonal)
        self.reg_bias = float(reg_bias)
        self.weight: Tensor | None = None  # (K, K) float64
        self.bias: Tensor | None = None  # (K,) float64

    def features(self, z: Tensor) -> Tensor:
        """x, what the linear map acts on: the logits themselves."""
        return z

    def objective(self, weight: Tensor, bias: Tensor, z: Tensor, y: Tensor) -> Tensor:
        """Mean NLL of softmax(W x + b) (invalid entries zeroed, then re-masked) + the ODIR penalty."""
        valid, x = zeroed(self.features(z))
        loss = mean_nll(remasked(valid, x @ weight.T + bias), y)
        return loss + odir_penalty(weight, bias, self.reg_off_diagonal, self.reg_bias)

    def _fit(self, data: dict[str, tuple[Tensor, Tensor]], kind: str) -> None:
        ((z, y),) = data.values()
        k = z.shape[1]
        w = torch.eye(k, dtype=torch.float64).requires_grad_()
        b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
        minimise(self.name, [w, b], lambda: self.objective(w, b, z, y), self.max_iter)
        self.weight, self.bias = w.detach(), b.detach()

    def _apply(self, head: str, z: Tensor) -> Tensor:
        assert self.weight is not None and self.bias is not None
        self._check_width(head, z, self.bias.numel())
        valid, x = zeroed(self.features(z))
        return remasked(valid, x @ self.weight.T + self.bias)

    def _fitted(self) -> dict[str, float]:
        assert self.weight is not None and self.bias is not None
        off_diagonal = self.weight - torch.diag(torch.diagonal(self.weight))
        return {
            "weight_trace_mean": float(torch.diagonal(self.weight).mean()),
            "weight_off_diagonal_norm": float(off_diagonal.norm()),
            "bias_norm": float(self.bias.norm()),
        }


class DirichletScaler(MatrixScaler):
    """z' = W log softmax(z) + b (Kull et al. 2019), ODIR-penalised."""

    name = "dirichlet"
    suffix = "dir"
    fits = "a Dirichlet calibration map"

    def __init__(self, max_iter: int = 500, reg_off_diagonal: float = 0.01, reg_bias: float = 0.01) -> None:
        super().__init__(max_iter, reg_off_diagonal, reg_bias)

    def features(self, z: Tensor) -> Tensor:
        """x = log softmax(z) over the valid entries (-inf kept)."""
        return scaled_log_probs(z)
