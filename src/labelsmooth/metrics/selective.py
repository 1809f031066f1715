"""Selective prediction: AURC, AUGRC and the MaxLogit-pNorm confidence score; the shared input check.

An item i has a score s_i (higher = more confident) and a correctness y_i ∈ {0, 1}. Accepting the items with
s ≥ t, for each distinct score t taken from the highest down (j = 1..G), gives the risk-coverage points

    n_j = #{i: s_i ≥ t_j},  e_j = Σ_{i: s_i ≥ t_j} (1 − y_i),  κ_j = n_j / N,
    selective risk r_j = e_j / n_j (Geifman et al. 2019),  generalized risk g_j = e_j / N (Traub et al. 2024).

Items of equal score are accepted together (one point per distinct score), so neither area depends on the
order of tied items. The areas are trapezoids over those points closed at coverage 0, exactly as Traub et
al.'s reference code (fd-shifts, `rc_stats_utils.py` + `RiskCoverageStatsMixin.evaluate_auc`, linear
interpolation) does: the selective curve stays flat at r_1 down to κ = 0, the generalized one falls to 0:

    AURC  = κ_1·r_1   + Σ_{j≥2} (κ_j − κ_{j−1})·(r_j + r_{j−1})/2
    AUGRC = κ_1·g_1/2 + Σ_{j≥2} (κ_j − κ_{j−1})·(g_j + g_{j−1})/2

(fd-shifts reports them ×1000; these are on [0, 1]). For one item: AURC = 1 − y, AUGRC = (1 − y)/2. Without
ties this is torch-uncertainty's trapezoid plus its missing first segment and without its 1/(1 − 1/N)
rescaling: AURC = AURC_tu·(1 − 1/N) + r_1/N, AUGRC = AUGRC_tu·(1 − 1/N) + r_1/(2N²). Known property of the
linear interpolation (fd-shifts notes it too): a plateau of tied *errors* is bridged by a chord below the
true selective-risk curve, so tying errors can give an AURC below the oracle's; AUGRC has no such effect
(its oracle curve is convex), and AUGRC ≤ AURC always (g_j ≤ r_j).

MaxLogit-pNorm (Cattelan & Silva 2023): z'_k = z_k − mean_k z (centered), score = max_k z'_k / ‖z'‖_p over
the valid (finite) entries of each row; a ranking score, not a probability. Centered scores lie in [0, 1]
(z' has mean 0, so max z' ≥ 0, and max z' ≤ ‖z'‖_∞ ≤ ‖z'‖_p).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def check_confidence(
    confidence: Tensor | np.ndarray, correct: Tensor | np.ndarray, unit: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validate (N,) confidences and (N,) correctness; return float64 numpy arrays (correct as 0.0 / 1.0),
    which may share memory with float64 CPU inputs (nothing here writes to them).

    unit=True requires confidences in [0, 1] (calibration); unit=False any finite real (a ranking score).
    """
    c = torch.as_tensor(confidence).detach().cpu().to(torch.float64).reshape(-1).numpy()
    y = torch.as_tensor(correct).detach().cpu().to(torch.float64).reshape(-1).numpy()
    if c.size != y.size:
        raise ValueError(f"confidence ({c.size}), correct ({y.size}): expected the same length")
    if c.size == 0:
        raise ValueError("confidence: expected at least one item, got an empty tensor")
    if unit and not ((c >= 0) & (c <= 1)).all():  # NaN fails both comparisons
        raise ValueError("confidence: expected values in [0, 1] (no NaN)")
    if not unit and not np.isfinite(c).all():
        raise ValueError("confidence: expected finite scores (no NaN or inf)")
    if not ((y == 0) | (y == 1)).all():
        raise ValueError("correct: expected booleans or 0/1 values")
    return c, y


# The work below is numpy, single-threaded: on a busy machine each small multi-threaded torch op can wait
# milliseconds for a descheduled worker thread, which for these O(N) passes costs far more than it saves.
def _risk_coverage_points(score: Tensor, correct: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coverage κ_j, selective risk r_j and generalized risk g_j at each distinct score, highest first."""
    s, y = check_confidence(score, correct, unit=False)
    order = np.argsort(-s)  # any order of ties: only the sums at group ends are used
    s, err = s[order], 1.0 - y[order]
    # A sum of 0/1 values is exact in float64, so e_j does not depend on the order inside a tie group.
    cum_err = np.cumsum(err)
    n_acc = np.arange(1, s.size + 1, dtype=np.float64)
    group_end = np.append(s[1:] != s[:-1], True)
    n_j, e_j = n_acc[group_end], cum_err[group_end]
    return n_j / s.size, e_j / n_j, e_j / s.size


def _trapezoid(coverage: np.ndarray, risk: np.ndarray) -> float:
    """Σ_{j≥2} (κ_j − κ_{j−1})·(ρ_j + ρ_{j−1})/2 over the points after the first."""
    return float(np.sum(np.diff(coverage) * (risk[1:] + risk[:-1]) / 2))


def selective_areas(confidence: Tensor, correct: Tensor) -> tuple[float, float]:
    """(AURC, AUGRC) from one sort: fd-shifts' trapezoids, items of equal confidence accepted together."""
    cov, risk, g_risk = _risk_coverage_points(confidence, correct)
    # AURC's first segment [0, κ_1] is flat at r_1: no threshold accepts fewer items than the top tie group.
    # The generalized risk is 0 at coverage 0 (nothing accepted, no error counted): a triangle to κ_1.
    area = float(cov[0] * risk[0]) + _trapezoid(cov, risk)
    return area, float(cov[0] * g_risk[0] / 2) + _trapezoid(cov, g_risk)


def aurc(confidence: Tensor, correct: Tensor) -> float:
    """Area under the selective-risk–coverage curve (Geifman et al. 2019; fd-shifts' trapezoid)."""
    return selective_areas(confidence, correct)[0]


def augrc(confidence: Tensor, correct: Tensor) -> float:
    """Area under the generalized-risk–coverage curve (Traub et al. 2024; fd-shifts' trapezoid)."""
    return selective_areas(confidence, correct)[1]


def pnorm_confidence(logits: Tensor, p: float = 2.0, centered: bool = True) -> Tensor:
    """MaxLogit-pNorm per row: max_k z'_k / ‖z'‖_p over the finite entries (z' = z − mean z if centered).

    A row whose norm is 0 (all valid logits equal) scores 0, the least confident value, except a row with a
    single valid entry, which scores 1: its prediction is forced (softmax gives it probability 1).
    """
    z = torch.as_tensor(logits).detach().cpu().to(torch.float64).numpy()
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"logits: expected a non-empty (N, K) tensor, got shape {tuple(z.shape)}")
    if np.isnan(z).any() or (z == math.inf).any():
        raise ValueError("logits: expected finite values or -inf for invalid entries, found NaN or +inf")
    valid = np.isfinite(z)
    n_valid = valid.sum(axis=1)
    if not (n_valid > 0).all():
        raise ValueError("logits: every item needs at least one finite entry, found a row of only -inf")
    if not (p > 0):  # NaN fails too; p = inf is the max norm
        raise ValueError(f"p={p}: expected a value > 0 (or inf)")
    # Invalid entries become 0 (after centering too), so they add nothing to the norm; the max skips them.
    finite = np.where(valid, z, 0.0)
    if centered:
        finite = np.where(valid, finite - finite.sum(axis=1, keepdims=True) / n_valid[:, None], 0.0)
    top = np.where(valid, finite, -math.inf).max(axis=1)
    norm = np.abs(finite).max(axis=1) if p == math.inf else np.linalg.norm(finite, ord=p, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(norm > 0, top / norm, 0.0)
    return torch.from_numpy(np.where(n_valid == 1, 1.0, score))
