"""Almost Stochastic Order (Dror et al. 2019, del Barrio et al. 2018) as `deepsig.aso` computes it.

`aso(a, b)` returns ε_min, an upper bound (at the given confidence) of the share of the quantile functions'
squared distance where B beats A: 0 when A's scores stochastically dominate B's, 1 when B's dominate A's,
about 0.5 when neither. Ulmer, Hardmeier & Frellsen (2022, the deepsig paper) read ε_min < 0.2 as "A is
better". Higher scores are better; pass −ECE for a metric where lower is better.

Why a copy of deepsig's algorithm: deepsig draws its 1,000 bootstrap samples one at a time through
`np.vectorize`, 3–4 s per comparison; a claims report has about twenty. This module does the same draws
(the same seeds, `RandomState(seed + i)` for iteration i, as deepsig's `np.random.seed(seed + i)`) and the
same quantile and integral rules, as array operations; tests/test_verdict_stats.py checks it against
`deepsig.aso` itself, and `aso(..., backend="deepsig")` calls the package instead.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

ITERATIONS = 1000
DT = 0.005
THRESHOLD = 0.2  # Ulmer et al. 2022: ε_min below it reads "A is better"


def _quantiles(sorted_scores: np.ndarray, p: np.ndarray) -> np.ndarray:
    """deepsig's empirical quantile function: sorted[ceil(n·p) − 1], clipped to [0, n−1]; rows at once."""
    n = sorted_scores.shape[-1]
    index = np.clip(np.ceil(n * p).astype(int) - 1, 0, n - 1)
    return np.take(sorted_scores, index, axis=-1)


def violation_ratio(a: np.ndarray, b: np.ndarray, dt: float = DT) -> np.ndarray:
    """ε_W2 of deepsig's `compute_violation_ratio` for each row of a and b (score samples, last axis)."""
    t = np.arange(dt, 1, dt)
    f = _quantiles(np.sort(a, axis=-1), t)
    g = _quantiles(np.sort(b, axis=-1), t)
    diff = g - f
    squared_distance = np.sum(diff**2 * dt, axis=-1)
    diff = np.where(f >= g, 0.0, diff)
    violation = np.sum(diff[..., 1:] ** 2 * dt, axis=-1)  # deepsig leaves out the first point
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = violation / squared_distance
    return np.where(squared_distance == 0, 0.5, ratio)  # identical samples: no order either way


def aso(
    scores_a: list[float],
    scores_b: list[float],
    confidence: float = 0.95,
    iterations: int = ITERATIONS,
    dt: float = DT,
    seed: int = 0,
    backend: str = "numpy",
) -> float:
    """ε_min of "A is better than B" (deepsig.aso with num_comparisons=1 and this seed)."""
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("aso: both score lists must be non-empty")
    if backend == "deepsig":
        from deepsig import aso as deepsig_aso

        return float(
            deepsig_aso(
                a, b, confidence, num_bootstrap_iterations=iterations, dt=dt, seed=seed, show_progress=False
            )
        )
    if backend != "numpy":
        raise ValueError(f"aso backend={backend!r}: expected 'numpy' or 'deepsig'")
    observed = float(violation_ratio(a, b, dt))
    sorted_a, sorted_b = np.sort(a), np.sort(b)
    # deepsig: iteration i seeds numpy's global generator with seed + i, then draws len(a), then len(b)
    # uniforms and maps them through each sample's quantile function (a bootstrap of each sample).
    draws_a, draws_b = np.empty((iterations, len(a))), np.empty((iterations, len(b)))
    for i in range(iterations):
        generator = np.random.RandomState(seed + i + 1)
        draws_a[i] = generator.uniform(0, 1, len(a))
        draws_b[i] = generator.uniform(0, 1, len(b))
    samples = violation_ratio(_quantiles(sorted_a, draws_a), _quantiles(sorted_b, draws_b), dt)
    const = np.sqrt(len(a) * len(b) / (len(a) + len(b)))
    sigma = np.std(const * (samples - observed))
    return float(np.clip(observed - (1 / const) * sigma * norm.ppf(1 - confidence), 0, 1))
