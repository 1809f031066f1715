"""Calibration metrics: ECE / MCE over equal-width confidence bins (Guo et al. 2017), NLL and accuracy.

Bin b of n holds confidences in (b/n, (b+1)/n]; a confidence of exactly 0 goes to the first bin and one of
exactly 1.0 to the top bin (torchmetrics, issue #3510, counts 1.0 in a hidden extra bin instead).
Run `python -m labelsmooth.metrics.calibration file.npz` for a JSON report of the arrays `logits`, `labels`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

# Guo et al. (2017) and Müller et al. (2019) report ECE over 15 bins.
DEFAULT_BINS = 15


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin statistics of a reliability diagram; empty bins have accuracy = confidence = 0."""

    edges: Tensor  # (n_bins + 1,) float64 bin edges on [0, 1]
    counts: Tensor  # (n_bins,) int64 items per bin
    accuracy: Tensor  # (n_bins,) float64 mean correctness per bin
    confidence: Tensor  # (n_bins,) float64 mean confidence per bin


def reliability_bins(confidences: Tensor, correct: Tensor, n_bins: int = DEFAULT_BINS) -> ReliabilityBins:
    """Bin confidences into n equal-width right-closed bins and average confidence and correctness per bin."""
    if n_bins < 1:
        raise ValueError(f"n_bins={n_bins}: expected an integer >= 1")
    conf = torch.as_tensor(confidences).detach().cpu().to(torch.float64).reshape(-1)
    hit = torch.as_tensor(correct).detach().cpu().to(torch.float64).reshape(-1)
    if conf.numel() != hit.numel():
        raise ValueError(f"confidences ({conf.numel()}), correct ({hit.numel()}): expected the same length")
    if conf.numel() == 0:
        raise ValueError("confidences: expected at least one item, got an empty tensor")
    if not bool(((conf >= 0) & (conf <= 1)).all()):
        raise ValueError("confidences: expected values in [0, 1] (no NaN)")
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    # right=False on the inner edges: index b means edges[b] < c <= edges[b+1]; 0 -> bin 0, 1.0 -> bin n-1.
    index = torch.bucketize(conf, edges[1:-1], right=False)
    counts = torch.bincount(index, minlength=n_bins)
    safe = counts.clamp(min=1).to(torch.float64)
    accuracy = torch.bincount(index, weights=hit, minlength=n_bins) / safe
    confidence = torch.bincount(index, weights=conf, minlength=n_bins) / safe
    return ReliabilityBins(edges=edges, counts=counts, accuracy=accuracy, confidence=confidence)


def calibration_errors(
    confidences: Tensor, correct: Tensor, n_bins: int = DEFAULT_BINS
) -> tuple[float, float]:
    """ECE = Σ_b |B_b|/n·|acc_b − conf_b| and MCE = max over non-empty bins of |acc_b − conf_b|."""
    bins = reliability_bins(confidences, correct, n_bins)
    gap = (bins.accuracy - bins.confidence).abs()
    weight = bins.counts.to(torch.float64) / bins.counts.sum()
    ece = float((weight * gap).sum())
    mce = float(gap[bins.counts > 0].max())
    return ece, mce


def scaled_log_probs(logits: Tensor, temperature: Tensor | float = 1.0) -> Tensor:
    """log softmax(logits / T) in float64; -inf entries (invalid items) stay -inf and pass no gradient."""
    valid = torch.isfinite(logits)
    finite = torch.where(valid, logits, torch.zeros_like(logits))
    # where() keeps the -inf entries out of the division, so d/dT never sees 0 * inf = NaN.
    scaled = torch.where(valid, finite / temperature, torch.full_like(logits, -math.inf))
    return torch.log_softmax(scaled, dim=-1)


def check_logits(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Validate (N, K) logits (-inf = invalid entry) and (N,) labels; return float64 / int64 CPU copies."""
    z = torch.as_tensor(logits).detach().cpu().to(torch.float64)
    y = torch.as_tensor(labels).detach().cpu().to(torch.int64)
    if z.dim() != 2:
        raise ValueError(f"logits: expected shape (N, K), got {tuple(z.shape)}")
    if y.dim() != 1 or y.numel() != z.shape[0]:
        raise ValueError(f"labels: expected shape ({z.shape[0]},), got {tuple(y.shape)}")
    if z.shape[0] == 0:
        raise ValueError("logits: expected at least one item, got N = 0")
    if bool(torch.isnan(z).any() | (z == math.inf).any()):
        raise ValueError("logits: expected finite values or -inf for invalid entries, found NaN or +inf")
    valid = torch.isfinite(z)
    if not bool(valid.any(dim=1).all()):
        raise ValueError("logits: every item needs at least one finite entry, found a row of only -inf")
    if bool(((y < 0) | (y >= z.shape[1])).any()):
        raise ValueError(f"labels: expected class indices in [0, {z.shape[1]}), found {y.min()}..{y.max()}")
    if not bool(valid.gather(1, y[:, None]).all()):
        raise ValueError("labels: a label points at an invalid (-inf) logit entry")
    return z, y


def confidences_and_correct(
    logits: Tensor, labels: Tensor, temperature: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Top-1 confidence max softmax(logits/T) and correctness argmax == label, per item (float64, bool)."""
    z, y = check_logits(logits, labels)
    log_p = scaled_log_probs(z, _checked_temperature(temperature))
    top, pred = log_p.max(dim=1)
    return top.exp(), pred == y


def calibration_report(
    logits: Tensor, labels: Tensor, temperature: float = 1.0, n_bins: int = DEFAULT_BINS
) -> dict[str, float]:
    """ECE, MCE, NLL (mean CE of softmax(logits/T)) and accuracy of (N, K) logits; -inf marks invalid."""
    z, y = check_logits(logits, labels)
    log_p = scaled_log_probs(z, _checked_temperature(temperature))
    top, pred = log_p.max(dim=1)
    correct = pred == y
    ece, mce = calibration_errors(top.exp(), correct, n_bins)
    nll = float(-log_p.gather(1, y[:, None]).mean())
    return {"ece": ece, "mce": mce, "nll": nll, "accuracy": float(correct.double().mean())}


def _checked_temperature(temperature: float) -> float:
    """A temperature must be a finite number > 0."""
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature={temperature}: expected a finite value > 0")
    return t


EMPTY_VAL = (
    "calibration=temperature: the validation set is empty; there are no logits to fit a temperature on"
)


def fit_temperature(logits: Tensor, labels: Tensor, max_iter: int = 100) -> float:
    """T > 0 minimising the NLL of softmax(logits / T), by LBFGS on log T in float64; -inf marks invalid."""
    if max_iter < 1:
        raise ValueError(f"max_iter={max_iter}: expected an integer >= 1")
    if torch.as_tensor(logits).numel() == 0 or torch.as_tensor(labels).numel() == 0:
        raise ValueError(EMPTY_VAL)
    # Lightning evaluates under inference_mode; a clone made outside it is a normal tensor autograd can use.
    with torch.inference_mode(False), torch.enable_grad():
        z, y = (t.clone() for t in check_logits(logits, labels))
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)  # start at T = 1 (no scaling)
        optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            optimizer.zero_grad()
            nll = -scaled_log_probs(z, log_t.exp()).gather(1, y[:, None]).mean()
            nll.backward()
            return nll

        optimizer.step(closure)
        temperature = float(log_t.detach().exp())
    if not (0 < temperature < float("inf")):
        raise ValueError(f"calibration=temperature: the fit diverged (T = {temperature}); separable logits?")
    return temperature


def main(argv: list[str] | None = None) -> int:
    """CLI: print the calibration report of the `logits` / `labels` arrays of an .npz file as JSON."""
    parser = argparse.ArgumentParser(prog="python -m labelsmooth.metrics.calibration", description=__doc__)
    parser.add_argument("npz", type=Path, help="file with arrays `logits` (N, K) and `labels` (N,)")
    parser.add_argument("--n-bins", type=int, default=DEFAULT_BINS)
    parser.add_argument("--temperature", type=float, default=1.0)
    args = parser.parse_args(argv)
    with np.load(args.npz) as data:
        missing = [k for k in ("logits", "labels") if k not in data.files]
        if missing:
            raise SystemExit(f"{args.npz}: missing {missing}; expected arrays `logits` (N, K), `labels` (N,)")
        logits, labels = torch.from_numpy(data["logits"]), torch.from_numpy(data["labels"])
    report = calibration_report(logits, labels, temperature=args.temperature, n_bins=args.n_bins)
    json.dump({**report, "n": int(labels.numel()), "n_bins": args.n_bins}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
