"""Intervals of the seed-paired mean Δ whose coverage is measured (tests/test_interval_coverage.py).

From the per-seed paired differences Δ_1 … Δ_n (mean Δ̄, seed variance s², A = s²/n):

- seeds: Δ̄ ± t_{(1+level)/2, n−1} · √A; the test set is held fixed.
- seeds × test items: B = sd_items², se² = A + B. A varies with the seed only: it misses the luck of the one
  test set every seed is scored on (an item effect that does not cancel on these items shifts every Δ_s
  alike). B is that shared part: the variance of Δ̄ under resampling the test items with the seeds fixed
  (stats.items.hierarchical_bootstrap's sd_items), estimated from hundreds of items and so taken as known.
  The half-width adds each part with its own quantile ("quadrature", the default):

      half² = t²_{(1+level)/2, n−1} · A + z²_{(1+level)/2} · B.

  It is exact at both ends (B = 0: the seed-t; A → 0: the normal interval of a known variance) and, computed
  by quadrature over the χ² law of s² for n = 2…20, levels 0.9…0.99999 and B/Var(seed part) from 0.001 to
  1000, never covers less than the level (at most 0.977 for 95 % at 3 seeds). The Welch–Satterthwaite
  alternative (method="satterthwaite"): Δ̄ ± t_{df}·se, df = se⁴ / (A² / (n − 1)), treating B as known,
  undercovers where B is a small share: a low s² raises df and shrinks se together (95 % covers 0.92 at
  3 seeds and 0.87 at 2 when B is a tenth of the seed part); the coverage test measures both.
  Item noise that differs between seeds is counted in both A (as seed-to-seed spread) and B (as item
  spread): there the interval is conservative.
  Reported df: the t df whose quantile times se gives the same half-width (n − 1 … ∞).

p: the two-sided p-value of Δ = 0 that matches the interval: the smallest 1 − level at which it excludes 0
(for the seed-t and Satterthwaite: 2·P(t_df > |Δ̄|/se)). tost_p: Schuirmann's equivalence p within ±margin,
the larger of the two one-sided p-values from the same construction (equivalence at α ⇔ the (1 − 2α)
interval lies inside ±margin).

The percentile bootstrap over seeds that these replace undercovers with few seeds (0.75 / 0.78 / 0.86 / 0.88
at 3 / 4 / 5 / 10 seeds when seed noise dominates): resampling 3 values cannot produce the tails of a
t with 2 df. docs/verdicts.md has the measured table.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

SEEDS = "seeds"
SEEDS_ITEMS = "seeds × test items"
METHODS = ("quadrature", "satterthwaite")


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    se: float  # √(A + B)
    df: float  # effective t df at this level (inf: only the known test-set part is left)
    p: float  # two-sided p-value of Δ = 0
    level: float
    accounts: str  # SEEDS or SEEDS_ITEMS: the sources of noise the interval counts
    n: int = 0  # paired seeds
    se_seeds: float = math.nan  # √A = s/√n
    sd_items: float = 0.0  # √B (0 for the seed-only interval)
    method: str = "quadrature"

    def excludes_zero(self) -> str:
        """The side of 0 the interval lies wholly on, "above" or "below"; "" when it holds 0."""
        return "above" if self.low > 0 else "below" if self.high < 0 else ""


def half_width(
    seed_var_of_mean: np.ndarray | float,
    n: int,
    items_var: np.ndarray | float = 0.0,
    level: float = 0.95,
    method: str = "quadrature",
) -> np.ndarray:
    """Half-width for A = seed_var_of_mean (s²/n) and B = items_var (module docstring); numpy-vectorised."""
    if not 0 < level < 1:
        raise ValueError(f"level={level}: expected 0 < level < 1")
    if n < 2:
        raise ValueError(f"n={n}: a t interval needs at least two paired seeds")
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    a, b = np.asarray(seed_var_of_mean, dtype=float), np.asarray(items_var, dtype=float)
    tail = (1 - level) / 2
    if method == "satterthwaite":
        return stats.t.isf(tail, _satterthwaite_df(a, b, n)) * np.sqrt(a + b)
    return np.sqrt(stats.t.isf(tail, n - 1) ** 2 * a + stats.norm.isf(tail) ** 2 * b)


def _satterthwaite_df(a: np.ndarray | float, b: np.ndarray | float, n: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(a) > 0, (a + b) ** 2 / (np.asarray(a) ** 2 / (n - 1)), np.inf)


def _effective_df(half: float, se: float, level: float, n: int) -> float:
    """The df ≥ n − 1 whose t quantile times se is the half-width (inf at the normal quantile)."""
    tail = (1 - level) / 2
    z, t = stats.norm.isf(tail), stats.t.isf(tail, n - 1)
    q = half / se if se > 0 else z
    if q >= t * (1 - 1e-12):
        return float(n - 1)
    if q <= z * (1 + 1e-12):
        return math.inf
    return float(optimize.brentq(lambda d: stats.t.isf(tail, d) - q, n - 1, 1e12, xtol=1e-9))


def _two_sided_p(x: float, a: float, b: float, n: int, method: str) -> float:
    """Smallest 1 − level whose interval around x excludes 0 (two-sided p of |x| against 0)."""
    if x == 0:
        return 1.0
    if a + b == 0:
        return 0.0
    if method == "satterthwaite" or b == 0:  # a t with its df (n − 1 when b = 0)
        return float(2 * stats.t.sf(abs(x) / math.sqrt(a + b), _satterthwaite_df(a, b, n)))

    # half(α)² − x² falls from +∞ (α → 0) to −x² (α = 1); solved on log α, as p can be ~1e-300.
    def gap(log_alpha: float) -> float:
        tail = math.exp(log_alpha) / 2
        t, z = float(stats.t.isf(tail, n - 1)), float(stats.norm.isf(tail))
        return (t * t * a if t < 1e150 else math.inf) + z * z * b - x * x  # t_1 at 1e-300 is ~1e299

    if gap(-700.0) < 0:
        return 0.0
    return float(math.exp(optimize.brentq(gap, -700.0, 0.0, xtol=1e-12)))


def _interval(diffs: Sequence[float], b: float, level: float, accounts: str, method: str) -> Interval:
    mean = statistics.fmean(diffs)
    n = len(diffs)
    if n < 2:
        nan = math.nan
        return Interval(mean, nan, nan, nan, nan, nan, level, accounts, n, nan, math.sqrt(b), method)
    a = statistics.variance(diffs) / n
    half = float(half_width(a, n, b, level, method))
    se = math.sqrt(a + b)
    df = float(_satterthwaite_df(a, b, n)) if method == "satterthwaite" else _effective_df(half, se, level, n)
    p = _two_sided_p(mean, a, b, n, method)
    return Interval(mean, mean - half, mean + half, se, df, p, level, accounts, n, a**0.5, b**0.5, method)


def seeds_interval(diffs: Sequence[float], level: float) -> Interval:
    """Δ̄ ± t_{(1+level)/2, n−1}·s/√n over the paired seeds; nan bounds below two seeds."""
    return _interval(diffs, 0.0, level, SEEDS, "quadrature")


def seeds_items_interval(
    diffs: Sequence[float], sd_items: float, level: float, method: str = "quadrature"
) -> Interval:
    """Δ̄ ± half, half² = t²_{n−1}·s²/n + z²·sd_items² (module docstring); nan bounds below two seeds."""
    if not sd_items >= 0:  # also rejects nan: without items call seeds_interval
        raise ValueError(f"sd_items={sd_items}: expected a test-set sd ≥ 0 (no items: use seeds_interval)")
    return _interval(diffs, float(sd_items) ** 2, level, SEEDS_ITEMS, method)


def tost_p(interval: Interval, margin: float) -> float:
    """Equivalence p within ±margin: max of the one-sided p of Δ ≤ −margin and of Δ ≥ +margin."""
    if margin <= 0:
        raise ValueError(f"margin={margin}: an equivalence margin must be > 0")
    if math.isnan(interval.se):
        return math.nan
    a, b, n = interval.se_seeds**2, interval.sd_items**2, interval.n

    def one_sided(x: float) -> float:  # p of H0 "Δ ≤ mean − x" from the symmetric two-sided p
        p2 = _two_sided_p(x, a, b, n, interval.method)
        return p2 / 2 if x > 0 else 1 - p2 / 2 if x < 0 else 0.5

    if a + b == 0:  # decided by where the mean lies
        return max(float(interval.mean <= -margin), float(interval.mean >= margin))
    return max(one_sided(interval.mean + margin), one_sided(margin - interval.mean))
