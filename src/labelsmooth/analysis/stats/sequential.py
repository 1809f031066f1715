"""Group-sequential verdicts: the level each planned look at the seeds is judged at, and Holm's correction.

A claim may be judged at several seed counts `looks = [n_1 < … < n_K]` (after each batch of seeds). Judging
each look at a fixed 95 % lets the chance of a false verdict grow with the number of looks (measured: 10–19 %
under no effect); here the looks share the 5 % instead, by a Lan–DeMets error-spending function of the
information fraction t_k = n_k / n_K (the information in a mean grows like the number of seeds):

    α(t) = 4 − 4·Φ(z_{1−α/4} / √t)   (O'Brien–Fleming type; α(1) = α)

This is the one-sided Lan–DeMets O'Brien–Fleming function 2 − 2Φ(z_{1−a/2}/√t) at a = α/2 spent on each
side: gsDesign's sfLDOF with its one-sided α (keaven/gsDesign, R/gsSpending.R) in a symmetric two-sided
design, and gsMeanFreq's two-sided OBF. For five equally spaced looks at two-sided 5 % it gives the
tabulated c = 4.877, 3.357, 2.680, 2.290, 2.031. (The same function applied to the two-sided α directly,
2 − 2Φ(z_{1−α/2}/√t), spends more early: c_1 = 4.38 there.)

The boundaries c_k hold the canonical joint law of the look statistics, Z_k = W(t_k)/√t_k for a Brownian
motion W (so Corr(Z_i, Z_j) = √(t_i/t_j), i < j): c_k solves

    P(|Z_1| < c_1, …, |Z_{k−1}| < c_{k−1}, |Z_k| ≥ c_k) = α(t_k) − α(t_{k−1}),

computed by the recursive numerical integration of Armitage, McPherson & Rowe (1969) over the continuation
densities of W(t_k) on a grid (deterministic, to ~1e-8 in c_k; scipy's multivariate normal CDF, a
randomised quasi-Monte-Carlo integral, needs minutes to resolve the ~1e-7 probabilities of early looks, so
the tests use it as a cross-check only). z_levels gives 2(1 − Φ(c_k)), the looks' levels for z statistics.

The verdict at look k is "the paired seed-t interval (n_k − 1 df) at level 1 − α'_k excludes 0", and
α'_k = look_levels(looks)[k]. With 2–5 seeds the t statistics do not follow the canonical law (each look
estimates its own sd, so they depend less on one another than the Z_k do): given the z levels they make
5.1–5.5 % false verdicts over all looks at the tests' schedules. look_levels therefore sets the levels on
the t statistics themselves, with the same spending (_t_levels), which brings that to 4.9–5.0 %
(tests/test_sequential.py, 20,000 simulated sequences).

Holm's step-down procedure (holm_adjusted) controls the family-wise error over the rows of one claim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import optimize, stats

ALPHA = 0.05
# Grid of the recursion: spacing at most the smallest increment's sd / GRID_PER_SD (Simpson's rule on a
# Gaussian convolution converges fast; 12 points per sd give ~1e-10 on the boundaries of the tests).
GRID_PER_SD = 12
MIN_POINTS = 401  # odd, for Simpson's rule
MAX_POINTS = 6001
# The simulation that sets the seed-t levels (_t_levels): sequences, its fixed seed, and the fewest
# expected rejections at which a look is calibrated on it.
CALIBRATION = 200_000
CALIBRATION_SEED = 20_211_101
MIN_HITS = 200


def spending(t: float | np.ndarray, alpha: float = ALPHA) -> float | np.ndarray:
    """Cumulative two-sided error spent by information fraction t: 4 − 4Φ(z_{1−α/4}/√t)."""
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore"):
        out = 4.0 * stats.norm.sf(stats.norm.isf(alpha / 4) / np.sqrt(t))
    return float(out) if out.ndim == 0 else out


def _validate(looks: Sequence[int], alpha: float) -> tuple[int, ...]:
    looks = tuple(looks)
    ok = (
        len(looks) > 0
        and all(isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 2 for n in looks)
        and all(a < b for a, b in zip(looks, looks[1:], strict=False))
    )
    if not ok:
        raise ValueError(
            f"looks={list(looks)}: expected a non-empty strictly increasing list of seed counts ≥ 2"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha}: expected 0 < alpha < 1")
    return tuple(int(n) for n in looks)


def _simpson(n_points: int, width: float) -> np.ndarray:
    """Simpson weights of an odd number of equally spaced points over an interval of this width."""
    w = np.ones(n_points)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * width / (n_points - 1) / 3.0


@lru_cache(maxsize=256)
def _boundaries(looks: tuple[int, ...], alpha: float) -> tuple[float, ...]:
    """c_1 … c_K on the Z scale (module docstring), by the recursion over W(t_k)."""
    t = np.array(looks, dtype=float) / looks[-1]
    spent = spending(t, alpha)
    increments = np.diff(np.concatenate([[0.0], spent]))
    sd_min = math.sqrt(min(np.diff(np.concatenate([[0.0], t]))))
    c = [float(stats.norm.isf(spent[0] / 2))]
    # g: the sub-density of W(t_{k−1}) on paths that crossed no earlier boundary, times quadrature weights.
    b = c[0] * math.sqrt(t[0])
    grid, g = _grid(b, sd_min)
    g = g * stats.norm.pdf(grid, scale=math.sqrt(t[0]))
    for k in range(1, len(t)):
        sd = math.sqrt(t[k] - t[k - 1])
        root_t = math.sqrt(t[k])

        def crossing(ck: float, grid=grid, g=g, sd=sd, root_t=root_t) -> float:
            bk = ck * root_t
            return float(g @ (stats.norm.cdf((-bk - grid) / sd) + stats.norm.sf((bk - grid) / sd)))

        # The crossing probability falls from P(still going) ≥ 1 − α at c = 0 to 0; the increment is in there.
        ck = optimize.brentq(
            lambda x, target=increments[k]: crossing(x) - target, 0.0, 40.0, xtol=1e-12, rtol=1e-12
        )
        c.append(float(ck))
        new_grid, weights = _grid(ck * root_t, sd_min)
        # φ by hand: scipy's pdf costs ~10× this on an N × N grid.
        gap = (new_grid[:, None] - grid[None, :]) / sd
        kernel = np.exp(-0.5 * gap**2) / (sd * math.sqrt(2 * math.pi))
        grid, g = new_grid, weights * (kernel @ g)
    return tuple(c)


def _grid(b: float, sd_min: float) -> tuple[np.ndarray, np.ndarray]:
    n = math.ceil(2 * b * GRID_PER_SD / sd_min) | 1  # odd
    n = min(max(n, MIN_POINTS), MAX_POINTS)
    return np.linspace(-b, b, n), _simpson(n, 2 * b)


def boundaries(looks: Sequence[int], alpha: float = ALPHA) -> list[float]:
    """The two-sided Z-scale boundaries c_k of the O'Brien–Fleming-type design (module docstring)."""
    return list(_boundaries(_validate(looks, alpha), float(alpha)))


def z_levels(looks: Sequence[int], alpha: float = ALPHA) -> list[float]:
    """2(1 − Φ(c_k)): each look's two-sided level for a z statistic (known sd) under the canonical law."""
    looks = _validate(looks, alpha)
    return [float(2 * stats.norm.sf(c)) for c in _boundaries(looks, float(alpha))]


def look_levels(looks: Sequence[int], alpha: float = ALPHA) -> list[float]:
    """α'_k: the two-sided level of each look's paired seed-t interval (n_k − 1 df); one look: [alpha].

    The spending of the module docstring, held by the t statistics themselves (see _t_levels).
    """
    looks = _validate(looks, alpha)
    return [float(alpha)] if len(looks) == 1 else list(_t_levels(looks, float(alpha)))


@lru_cache(maxsize=256)
def _t_levels(looks: tuple[int, ...], alpha: float) -> tuple[float, ...]:
    """Levels at which the seed-t statistics T_k spend α(t_k) − α(t_{k−1}) each (not the z ones).

    Judging T_k (t with n_k − 1 df) at the z boundaries' levels 2(1 − Φ(c_k)) keeps each look's own rate
    but not the joint one: each look estimates its own sd, so the T_k are less dependent than the canonical
    Z_k and the false-verdict rate over all looks rises to 0.051–0.055 at the tests' schedules (measured,
    20,000 sequences). Under no effect the joint law of T_1 … T_K is free of σ (each T is scale-free), so
    it can be simulated once: CALIBRATION sequences of N(0, 1) seeds, and at each look the threshold that
    makes the cumulative share of sequences rejected by then equal α(t_k). The z level is kept at the first
    look (T_1 alone: its t level is exact) and where the cumulative spend is below MIN_HITS of the
    sequences (the early O'Brien–Fleming looks, levels ~1e-5, which share almost no rejections with later
    ones). The simulation's seed is fixed, so the levels are deterministic; their own Monte-Carlo error
    moves the total by about ±0.0005.
    """
    rng = np.random.default_rng(CALIBRATION_SEED)
    t = t_statistics(rng, looks, CALIBRATION, 0.0)
    spent = np.asarray(spending(np.array(looks) / looks[-1], alpha)) * CALIBRATION
    z_lv = z_levels(looks, alpha)
    alive = np.ones(CALIBRATION, dtype=bool)
    levels = []
    for k, n in enumerate(looks):
        rejected = CALIBRATION - alive.sum()
        want = round(spent[k] - rejected)  # rejections this look's cumulative spend still allows
        if k == 0 or spent[k] < MIN_HITS or want < 1:  # the first look's T_1 alone: its t level is exact
            crit = float(stats.t.isf(z_lv[k] / 2, n - 1))
        else:
            live = np.sort(np.abs(t[alive, k]))[::-1]
            # Midway between the want-th and the next largest |T|: exactly `want` live sequences reject.
            crit = float((live[want - 1] + live[want]) / 2)
        levels.append(float(2 * stats.t.sf(crit, n - 1)))
        alive &= np.abs(t[:, k]) < crit
    return tuple(levels)


def t_statistics(rng: np.random.Generator, looks: Sequence[int], sequences: int, effect: float) -> np.ndarray:
    """(sequences × looks) paired t statistics of Δ_s ~ N(effect, 1), accumulated seed by seed."""
    total = np.zeros(sequences)
    squares = np.zeros(sequences)
    out = np.empty((sequences, len(looks)))
    k = 0
    for n in range(1, looks[-1] + 1):
        x = rng.standard_normal(sequences) + effect
        total += x
        squares += x * x
        if n == looks[k]:
            mean = total / n
            var = np.maximum(squares - n * mean**2, 0.0) / (n - 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[:, k] = mean / np.sqrt(var / n)
            k += 1
    return out


def judged_look(looks: Sequence[int], n: int) -> int | None:
    """Index of the largest look ≤ n (the latest look n seeds allow), None below the first look."""
    looks = _validate(looks, ALPHA)
    due = [k for k, nk in enumerate(looks) if nk <= n]
    return due[-1] if due else None


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values in the input order: p̃_(j) = max_{i ≤ j} min(1, (m − i + 1)·p_(i)) over the
    m p-values sorted; a test is rejected at family-wise level α when p̃ ≤ α (the step-down: p_(1) ≤ α/m,
    p_(2) ≤ α/(m − 1), … up to the first that fails). A nan (a row with nothing to test) stays nan and is
    not one of the m."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    out = [math.nan] * len(p_values)
    running, m = 0.0, len(tested)
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def simulate_rule(
    looks: Sequence[int],
    effect: float = 0.0,
    sequences: int = 20_000,
    seed: int = 0,
    alpha: float = ALPHA,
    levels: Sequence[float] | None = None,
) -> dict[str, float]:
    """Monte-Carlo verdicts of the rule on per-seed Δ_s ~ N(effect, 1) (effect in seed-sd units).

    Each sequence is judged at its looks in order and stops at the first whose (1 − level) seed-t interval
    excludes 0. Returns the chance of a first verdict "above" (supports Δ > 0), "below", and "any".
    levels: per-look levels to use instead of look_levels (to compare rules).
    """
    looks = _validate(looks, alpha)
    levels = look_levels(looks, alpha) if levels is None else levels
    crit = stats.t.isf(np.asarray(levels) / 2, np.array(looks) - 1)
    t = t_statistics(np.random.default_rng(seed), looks, sequences, effect)
    return first_verdicts(t, crit)


def first_verdicts(t: np.ndarray, crit: np.ndarray) -> dict[str, float]:
    """Shares of rows of t (sequences × looks) whose first |t| ≥ crit is positive / negative / either."""
    hit = np.abs(t) >= crit
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    sign = np.where(first >= 0, np.sign(t[np.arange(len(t)), np.maximum(first, 0)]), 0.0)
    return {
        "above": float(np.mean(sign > 0)),
        "below": float(np.mean(sign < 0)),
        "any": float(np.mean(first >= 0)),
    }
