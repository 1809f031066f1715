"""The group-sequential design (analysis/stats/sequential.py): its boundaries against published values, the
canonical normal law and a brute-force simulation; Holm's procedure; and the false-verdict rate and power
of the verdict rule itself on simulated seeds, beside one anytime-valid alternative.

`pytest -s tests/test_sequential.py` prints the tables docs/verdicts.md quotes (RNG seeds below).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from labelsmooth.analysis.stats.intervals import half_width
from labelsmooth.analysis.stats.sequential import (
    CALIBRATION_SEED,
    boundaries,
    first_verdicts,
    holm_adjusted,
    judged_look,
    look_levels,
    simulate_rule,
    spending,
    t_statistics,
    z_levels,
)

# The claims' schedules the issue names (seed counts at which a claim may be judged).
SCHEDULES = ([2, 4, 5, 7, 9, 11, 13], [4, 6, 8], list(range(5, 21)), [3, 5, 10])
SEQUENCES = 20_000
SIM_SEED = 7  # not CALIBRATION_SEED: the check must not reuse the draws the levels were set on
assert SIM_SEED != CALIBRATION_SEED


def test_one_look_is_judged_at_alpha():
    assert look_levels([5]) == [0.05]
    assert look_levels([3], alpha=0.1) == [0.1]


@pytest.mark.parametrize("looks", [[], [3, 3], [1, 4], [5, 4], [2, 4.5], [True, 3]])
def test_bad_looks_are_one_value_error_line(looks):
    with pytest.raises(ValueError, match=r"strictly increasing") as err:
        look_levels(looks)
    assert "\n" not in str(err.value)


def test_five_equally_spaced_looks_give_the_published_obrien_fleming_boundaries():
    # Lan–DeMets O'Brien–Fleming-type spending, two-sided 5 % as α/2 per side: gsDesign's sfLDOF
    # (keaven/gsDesign R/gsSpending.R: spend = 2(1 − Φ(z_{α/2}/√t)) with the one-sided α = 0.025, test.type
    # = 2), rpact's asOF (sided = 2) and gsMeanFreq's OBF (4 − 4Φ(z_{1−α/4}/√t)). Their tabulated bounds
    # for K = 5 equal looks: 4.877, 3.357, 2.680, 2.290, 2.031. Only the fractions n_k/n_K matter.
    published = [4.877, 3.357, 2.680, 2.290, 2.031]
    assert boundaries([2, 4, 6, 8, 10]) == pytest.approx(published, abs=6e-4)
    assert boundaries([3, 6, 9, 12, 15]) == pytest.approx(boundaries([2, 4, 6, 8, 10]), abs=1e-9)
    assert spending(1.0) == pytest.approx(0.05, abs=1e-15)


@pytest.mark.parametrize("looks", [[2, 4, 6, 8, 10], [4, 6, 8], [3, 5, 10], [2, 4, 5, 7, 9]])
def test_boundaries_spend_alpha_under_the_canonical_normal_law(looks):
    # scipy's multivariate normal CDF (Genz's QMC, ±1e-6) of the continuation box up to each look equals
    # 1 − α(t_k): the recursion solved the spending equations of the module docstring.
    c = np.array(boundaries(looks))
    t = np.array(looks) / looks[-1]
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    for k in range(1, len(looks) + 1):
        mvn = stats.multivariate_normal(
            np.zeros(k), cov[:k, :k], seed=3, abseps=1e-6, releps=0, maxpts=2_000_000
        )
        inside = mvn.cdf(c[:k], lower_limit=-c[:k])
        assert inside == pytest.approx(1 - spending(t[k - 1]), abs=3e-6)


def test_boundaries_by_brute_force_brownian_paths():
    # The same law by simulation: W at the look times, Z_k = W(t_k)/√t_k; the share of paths first
    # crossing at each look is the spending increment (400,000 paths, fixed RNG).
    looks = [2, 4, 6, 8, 10]
    t = np.array(looks) / looks[-1]
    rng = np.random.default_rng(11)
    w = np.cumsum(rng.standard_normal((400_000, len(t))) * np.sqrt(np.diff(t, prepend=0.0)), axis=1)
    hit = np.abs(w / np.sqrt(t)) >= np.array(boundaries(looks))
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    shares = np.array([np.mean(first == k) for k in range(len(t))])
    assert shares.sum() == pytest.approx(0.05, abs=0.0015)
    assert shares == pytest.approx(np.diff(spending(t), prepend=0.0), abs=0.0012)


def test_judged_look_is_the_latest_look_the_seeds_allow():
    looks = [3, 5, 10]
    assert [judged_look(looks, n) for n in (0, 2, 3, 4, 5, 9, 10, 30)] == [None, None, 0, 0, 1, 1, 2, 2]


def _holm_by_closed_testing(p: list[float], alpha: float) -> list[bool]:
    # Holm is the closed test of Bonferroni tests: reject H_i iff every intersection containing i is
    # rejected, i.e. min_{j ∈ S} p_j ≤ α/|S| for every S ∋ i.
    m = len(p)
    subsets = [s for r in range(1, m + 1) for s in itertools.combinations(range(m), r)]
    return [all(min(p[j] for j in s) <= alpha / len(s) for s in subsets if i in s) for i in range(m)]


def _holm(p: list[float], alpha: float) -> list[bool]:
    return [q <= alpha for q in holm_adjusted(p)]  # nan <= alpha is False: an untested row is not rejected


def test_holm_is_the_closed_bonferroni_test_and_never_rejects_more_than_unadjusted():
    rng = np.random.default_rng(5)
    for _ in range(300):
        m = int(rng.integers(1, 7))
        # Mixtures of small and null p-values, with ties, so the step-down meets every case.
        p = np.where(rng.random(m) < 0.5, rng.random(m) * 0.05, rng.random(m)).round(3).tolist()
        got = _holm(p, 0.05)
        assert got == _holm_by_closed_testing(p, 0.05)
        assert all(x <= 0.05 for x, r in zip(p, got, strict=True) if r)
        assert all(q >= x for x, q in zip(p, holm_adjusted(p), strict=True))
    # a nan is a row with nothing to test: not one of the m (0.04 is tested at α/1 after 0.01 at α/2)
    got = holm_adjusted([0.01, math.nan, 0.04])
    assert got[0] == pytest.approx(0.02) and math.isnan(got[1]) and got[2] == pytest.approx(0.04)
    assert holm_adjusted([]) == []


def test_holm_controls_the_family_wise_error():
    rng = np.random.default_rng(6)
    p = rng.random((20_000, 5))  # five true null hypotheses, independent
    fwer = np.mean([any(_holm(row, 0.05)) for row in p])
    assert fwer <= 0.05 + 0.0035


@pytest.mark.parametrize(
    ("looks", "rows", "shared"),
    [([5, 10, 20], 5, True), ([5, 10, 20], 2, True), ([5, 10], 2, False)],
    ids=["C6", "C4", "C7-C8"],
)
def test_holm_over_rows_at_every_look_keeps_the_family_wise_error(looks, rows, shared, capsys):
    # Rows of one sweep share its baseline's seeds (C6: five temperatures against one teacher-free student):
    # Δ_rs = c_rs − b_s, correlated 0.5 between rows; rows on two stand-ins (C7, C8) are independent. At each
    # look the report Holm-adjusts the rows' seed-t p-values and decides a row whose adjusted p ≤ α'_k.
    # Counted: any row decided at any look, under no effect anywhere (an upper bound on the false verdicts
    # --until-decided can end with).
    rng = np.random.default_rng(SIM_SEED + 2)
    sequences = 10_000
    shape = (sequences, rows, looks[-1])
    baseline = rng.standard_normal((sequences, 1, looks[-1]) if shared else shape)
    deltas = rng.standard_normal(shape) - baseline
    levels = look_levels(looks)
    any_holm = np.zeros(sequences, dtype=bool)
    any_unadjusted = np.zeros(sequences, dtype=bool)
    for n, level in zip(looks, levels, strict=True):
        x = deltas[:, :, :n]
        t = x.mean(axis=2) / np.sqrt(x.var(axis=2, ddof=1) / n)
        p = 2 * stats.t.sf(np.abs(t), n - 1)
        any_unadjusted |= (p <= level).any(axis=1)
        any_holm |= np.array([min(holm_adjusted(row.tolist())) <= level for row in p])
    rate, unadjusted = float(any_holm.mean()), float(any_unadjusted.mean())
    with capsys.disabled():
        print(
            f"\nfamily-wise false verdicts, {rows} rows (shared baseline {shared}), looks {looks}: "
            f"Holm {rate:.4f}, unadjusted {unadjusted:.4f}"
        )
    assert rate <= 0.05 + 0.0066  # 3 Monte-Carlo sd at 10,000 sequences
    assert unadjusted > 0.08  # the problem Holm solves


def _rule_t(looks: list[int], effect: float, seed: int = SIM_SEED) -> np.ndarray:
    return t_statistics(np.random.default_rng(seed), looks, SEQUENCES, effect)


def _crit(looks: list[int], levels: list[float]) -> np.ndarray:
    return stats.t.isf(np.asarray(levels) / 2, np.array(looks) - 1)


@pytest.mark.parametrize("looks", SCHEDULES, ids=lambda x: f"{x[0]}..{x[-1]}x{len(x)}")
def test_the_verdict_rule_keeps_false_verdicts_under_alpha(looks, capsys):
    # The rule as the claims apply it: at look k the paired seed-t interval (n_k − 1 df) at level 1 − α'_k;
    # Δ_s ~ N(0, 1) (no effect; the rule is scale-free); any look whose interval excludes 0 is a verdict.
    t = _rule_t(looks, 0.0)
    ours = first_verdicts(t, _crit(looks, look_levels(looks)))["any"]
    z_at_t = first_verdicts(t, _crit(looks, z_levels(looks)))["any"]  # the z levels given to the t statistics
    fixed = first_verdicts(t, _crit(looks, [0.05] * len(looks)))["any"]  # 95 % at every look
    with capsys.disabled():
        print(
            f"\nfalse verdicts {looks}: design {ours:.4f}, z levels on t {z_at_t:.4f}, 95 % each {fixed:.4f}"
        )
    assert ours <= 0.055  # 0.05 + 3.6 Monte-Carlo sd at 20,000 sequences
    assert simulate_rule(looks, 0.0, SEQUENCES, SIM_SEED)["any"] == ours  # the library's own simulation
    assert fixed > 0.07  # the problem the design solves


@pytest.mark.parametrize("share", [0.3, 3.0])
@pytest.mark.parametrize("looks", [[2, 4, 5, 7, 9, 11, 13], [3, 5, 10]], ids=str)
def test_the_rule_with_the_test_set_interval_keeps_false_verdicts_under_alpha(looks, share, capsys):
    # With items the interval is seeds × test items: one test-set offset X ~ N(0, B) shared by every seed
    # and every look (B = share × the seed variance of the final mean), B known as sd_items².
    rng = np.random.default_rng(SIM_SEED + 1)
    b = share / looks[-1]
    x = rng.standard_normal((SEQUENCES, looks[-1])) + math.sqrt(b) * rng.standard_normal((SEQUENCES, 1))
    any_verdict = np.zeros(SEQUENCES, dtype=bool)
    for n, level in zip(looks, look_levels(looks), strict=True):
        mean = x[:, :n].mean(axis=1)
        half = half_width(x[:, :n].var(axis=1, ddof=1) / n, n, b, 1 - level)
        any_verdict |= np.abs(mean) > half
    rate = float(any_verdict.mean())
    with capsys.disabled():
        print(f"\nfalse verdicts, seeds × items interval, test-set share {share}, {looks}: {rate:.4f}")
    assert rate <= 0.055


# --- power, beside an anytime-valid alternative (for docs/verdicts.md; smoke assertions only) -------------


def lai_t_threshold(n: np.ndarray, tau2: float, alpha: float = 0.05) -> np.ndarray:
    """|T| at which Lai's (1976) t confidence sequence excludes 0 after n seeds (any n, any stopping).

    The scale-invariant mixture martingale (Gaussian prior N(0, τ²) on the standardised effect, right-Haar
    prior on σ): M_n = (1 + nτ²)^{−1/2} (1 − nτ²u/(1 + nτ²))^{−n/2}, u = T²/(n − 1 + T²), M_1 = 1; by
    Ville's inequality P(∃n: M_n ≥ 1/α) ≤ α under no effect. M_n ≥ 1/α ⇔ T² ≥ (n − 1)u*/(1 − u*).
    """
    n = np.asarray(n, dtype=float)
    b = (alpha / np.sqrt(1 + n * tau2)) ** (2 / n)
    u = (1 - b) * (1 + n * tau2) / (n * tau2)
    return np.where(u < 1, np.sqrt((n - 1) * u / np.maximum(1 - u, 1e-300)), np.inf)


def lai_tau2(n_final: int) -> float:
    """The mixture width that makes the confidence sequence tightest at the final look (a fair tuning)."""
    grid = np.logspace(-3, 2, 400)
    return float(grid[np.argmin([lai_t_threshold(np.array([n_final]), g)[0] for g in grid])])


def _expected_seeds(t: np.ndarray, crit: np.ndarray, looks: list[int]) -> float:
    hit = np.abs(t) >= crit
    stop = np.where(hit.any(axis=1), np.array(looks)[hit.argmax(axis=1)], looks[-1])
    return float(stop.mean())


def test_power_table_beside_a_t_confidence_sequence(capsys):
    rows = []
    for looks in SCHEDULES:
        lai = lai_t_threshold(np.array(looks), lai_tau2(looks[-1]))
        null = first_verdicts(_rule_t(looks, 0.0), lai)["any"]
        assert null <= 0.05  # anytime-valid: a fortiori at these looks
        ours_crit = _crit(looks, look_levels(looks))
        for effect in (1.0, 1.5):
            t = _rule_t(looks, effect)
            ours, cs = first_verdicts(t, ours_crit)["above"], first_verdicts(t, lai)["above"]
            fixed = float(np.mean(t[:, -1] >= stats.t.isf(0.025, looks[-1] - 1)))  # one look at n_K
            assert 0 < cs <= ours <= 1 and 0 < fixed <= 1
            name = f"{looks[0]}…{looks[-1]} ({len(looks)} looks)"
            rows.append(
                f"| {name} | {effect} | {ours:.3f} | {cs:.3f} | {fixed:.3f}"
                f" | {_expected_seeds(t, ours_crit, looks):.1f} | {_expected_seeds(t, lai, looks):.1f} |"
            )
        rows.append(
            f"| {looks[0]}…{looks[-1]}: t-CS false verdicts at these looks | 0 | {null:.4f} | | | | |"
        )
    with capsys.disabled():
        print("\n| looks | Δ/σ | design | t-CS (Lai) | one look at n_K | E[seeds] design | E[seeds] t-CS |")
        print("\n".join(rows))
