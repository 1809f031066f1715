"""Statistics over seeds: the paired Student-t interval, its power, and the equivalence test (TOST).

Every function takes the per-seed paired differences Δ_s = metric(configuration, s) − metric(baseline, s)
(or their sd and count). Power is that of the two-sided paired t-test at level α, computed exactly with
the noncentral t: with n pairs and true mean δ, T = mean/(sd/√n) follows t(n−1, nc = δ√n/σ). The sd is the
sample sd of the observed Δ_s, standing in for σ ("from the paired sd"), so with 3–5 seeds these numbers are
themselves rough; they say what the seeds *could* see, not what they saw.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import optimize, stats

CONFIDENCE = 0.95
POWER = 0.8
# Beyond this many seeds we say "more than" instead of searching further.
MAX_SEEDS = 100_000


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with df degrees of freedom (t_quantile(0.975, 4) = 2.776)."""
    if df < 1:
        raise ValueError(f"df={df}: a t interval needs at least two paired seeds")
    return float(stats.t.ppf(p, df))


def paired_interval(diffs: list[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high) of the paired differences; low = high = nan with fewer than two pairs."""
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return mean, math.nan, math.nan
    half = t_quantile(0.5 + confidence / 2, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return mean, mean - half, mean + half


def t_test_power(delta: float, sd: float, n: int, alpha: float = 1 - CONFIDENCE) -> float:
    """Power of the two-sided paired t-test at level alpha with n pairs, true mean delta, sd sd."""
    if n < 2:
        return math.nan
    if sd == 0:
        return 1.0 if delta != 0 else alpha
    df, nc = n - 1, abs(delta) * math.sqrt(n) / sd
    crit = stats.t.ppf(1 - alpha / 2, df)
    return _nct_sf(crit, df, nc) + _nct_cdf(-crit, df, nc)


def _nct_cdf(x: float, df: int, nc: float) -> float:
    """scipy's noncentral t cdf, which returns nan for some far tails; there it is taken from the sf."""
    value = float(stats.nct.cdf(x, df, nc))
    if math.isnan(value):
        value = 1.0 - float(stats.nct.sf(x, df, nc))
    return 0.0 if math.isnan(value) else min(1.0, max(0.0, value))


def _nct_sf(x: float, df: int, nc: float) -> float:
    return 1.0 - _nct_cdf(x, df, nc)


def minimum_detectable_effect(
    sd: float, n: int, power: float = POWER, alpha: float = 1 - CONFIDENCE
) -> float:
    """The smallest |δ| the paired t-test detects with this power at n pairs (nan below two pairs)."""
    if n < 2 or math.isnan(sd):
        return math.nan
    if sd == 0:
        return 0.0
    # Power grows with δ from alpha at 0 towards 1; at nc = 2·crit + 10 it is 1 to many digits.
    high = (2 * t_quantile(1 - alpha / 2, n - 1) + 10) * sd / math.sqrt(n)
    return float(optimize.brentq(lambda d: t_test_power(d, sd, n, alpha) - power, 0.0, high, xtol=1e-12))


def seeds_needed(
    delta: float, sd: float, power: float = POWER, alpha: float = 1 - CONFIDENCE, cap: int = MAX_SEEDS
) -> int | None:
    """The fewest pairs (≥ 2) at which the paired t-test detects delta with this power; None beyond cap."""
    return _smallest_n(lambda n: t_test_power(delta, sd, n, alpha) >= power, cap) if delta else None


def _smallest_n(enough, cap: int) -> int | None:
    """The smallest n in [2, cap] with enough(n), for a predicate that stays true once true (power in n)."""
    high = 2
    while not enough(high):  # double, then bisect: the answer is usually far below the cap
        if high >= cap:
            return None
        high = min(2 * high, cap)
    low = max(2, high // 2)
    while low < high:
        mid = (low + high) // 2
        if enough(mid):
            high = mid
        else:
            low = mid + 1
    return low


@dataclass(frozen=True)
class Tost:
    """Two one-sided t-tests of |Δ| < margin: H0 Δ ≤ −margin (p_low) and H0 Δ ≥ +margin (p_high)."""

    mean: float
    margin: float
    p_low: float
    p_high: float
    # The (1 − 2α) interval: equivalence at level α holds exactly when it lies inside (−margin, +margin).
    low: float
    high: float

    @property
    def p(self) -> float:
        return max(self.p_low, self.p_high)


def tost(diffs: list[float], margin: float, alpha: float = 1 - CONFIDENCE) -> Tost:
    """Schuirmann's TOST on paired differences: equivalent within ±margin when both one-sided p < alpha."""
    n = len(diffs)
    if margin <= 0:
        raise ValueError(f"margin={margin}: an equivalence margin must be > 0")
    mean = statistics.fmean(diffs)
    if n < 2:
        return Tost(mean, margin, math.nan, math.nan, math.nan, math.nan)
    se = statistics.stdev(diffs) / math.sqrt(n)
    df = n - 1
    if se == 0:  # every difference the same: the tests are decided by where that value lies
        p_low, p_high = float(mean <= -margin), float(mean >= margin)
        return Tost(mean, margin, p_low, p_high, mean, mean)
    p_low = float(stats.t.sf((mean + margin) / se, df))
    p_high = float(stats.t.cdf((mean - margin) / se, df))
    half = t_quantile(1 - alpha, df) * se
    return Tost(mean, margin, p_low, p_high, mean - half, mean + half)


def tost_power(margin: float, sd: float, n: int, delta: float = 0.0, alpha: float = 1 - CONFIDENCE) -> float:
    """Power of TOST at n pairs when the true difference is delta: P(both one-sided tests reject).

    Computed as P(A) + P(B) − 1 with the noncentral t of each one-sided statistic, a lower bound of
    P(A ∩ B) that is tight where power is high (the two tests fail on opposite tails).
    """
    if n < 2:
        return math.nan
    if sd == 0:
        return float(abs(delta) < margin)
    df, root = n - 1, math.sqrt(n) / sd
    crit = stats.t.ppf(1 - alpha, df)
    low = _nct_sf(crit, df, (delta + margin) * root)
    high = _nct_cdf(-crit, df, (delta - margin) * root)
    return max(0.0, low + high - 1)


def minimum_equivalence_margin(
    sd: float, n: int, power: float = POWER, alpha: float = 1 - CONFIDENCE
) -> float:
    """The smallest margin TOST establishes with this power at n pairs when the true difference is 0."""
    if n < 2 or math.isnan(sd):
        return math.nan
    if sd == 0:
        return 0.0
    high = (2 * t_quantile(1 - alpha, n - 1) + 10) * sd / math.sqrt(n)
    return float(optimize.brentq(lambda m: tost_power(m, sd, n, 0.0, alpha) - power, 1e-15, high, xtol=1e-12))


def seeds_needed_equivalence(
    margin: float, sd: float, power: float = POWER, alpha: float = 1 - CONFIDENCE, cap: int = MAX_SEEDS
) -> int | None:
    """The fewest pairs at which TOST shows equivalence within ±margin with this power, true Δ = 0."""
    return _smallest_n(lambda n: tost_power(margin, sd, n, 0.0, alpha) >= power, cap)
