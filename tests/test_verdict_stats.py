"""The verdict statistics against independent references: scipy, G*Power's tables, Monte Carlo, deepsig,
and brute-force enumeration of every bootstrap resample of tiny inputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from labelsmooth.analysis.stats.aso import aso
from labelsmooth.analysis.stats.items import Paired, hierarchical_bootstrap, resample_weights, value
from labelsmooth.analysis.stats.seeds import (
    minimum_detectable_effect,
    minimum_equivalence_margin,
    paired_interval,
    seeds_needed,
    seeds_needed_equivalence,
    t_test_power,
    tost,
    tost_power,
)
from labelsmooth.metrics.calibration import calibration_errors
from labelsmooth.metrics.conlleval import f1_from_counts

diffs_strategy = st.lists(
    st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 3)), min_size=2, max_size=12
).filter(lambda d: np.std(d) > 1e-3)


# --- the seed-t interval and its power --------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(diffs_strategy)
def test_paired_interval_is_scipys_one_sample_t_interval(diffs):
    low, high = stats.ttest_1samp(diffs, 0.0).confidence_interval(0.95)
    assert paired_interval(diffs)[1:] == pytest.approx((low, high), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("effect_size", "n", "power"), [(0.2, 199, 0.8017), (0.5, 34, 0.8078), (0.8, 15, 0.8213)]
)
def test_seeds_needed_match_gpower_one_sample_t_tables(effect_size, n, power):
    # G*Power 3.1, "t tests - Means: Difference from constant (one sample case)", two tails, α 0.05,
    # power 0.8: total sample size and actual power.
    assert seeds_needed(effect_size, 1.0) == n
    assert t_test_power(effect_size, 1.0, n) == pytest.approx(power, abs=1e-4)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 3.0), st.floats(0.1, 5.0))
def test_seeds_needed_is_the_first_n_with_enough_power(delta, sd):
    n = seeds_needed(delta, sd)
    assert t_test_power(delta, sd, n) >= 0.8
    assert n == 2 or t_test_power(delta, sd, n - 1) < 0.8


@pytest.mark.parametrize("n", [3, 5, 12])
def test_minimum_detectable_effect_is_detected_80_percent_of_the_time_in_simulation(n):
    # Brute force: draw paired differences with mean MDE, count how often the paired t-test rejects.
    sd = 0.7
    mde = minimum_detectable_effect(sd, n)
    draws = np.random.default_rng(0).normal(mde, sd, size=(40_000, n))
    rejected = stats.ttest_1samp(draws, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.01)
    assert t_test_power(mde, sd, n) == pytest.approx(0.8, abs=1e-9)


def test_power_edge_cases():
    assert math.isnan(minimum_detectable_effect(1.0, 1)) and minimum_detectable_effect(0.0, 5) == 0.0
    assert seeds_needed(0.0, 1.0) is None and seeds_needed(1e-4, 1.0, cap=1000) is None
    assert seeds_needed(0.5, 0.0) == 2


# --- equivalence: TOST ------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(diffs_strategy, st.floats(0.01, 3.0))
def test_tost_p_values_are_scipys_two_one_sided_t_tests(diffs, margin):
    result = tost(diffs, margin)
    assert result.p_low == pytest.approx(
        stats.ttest_1samp(diffs, -margin, alternative="greater").pvalue, abs=1e-12
    )
    assert result.p_high == pytest.approx(
        stats.ttest_1samp(diffs, margin, alternative="less").pvalue, abs=1e-12
    )
    # Equivalence at 5 % holds exactly when the 90 % interval lies inside the margins.
    assert (result.p < 0.05) == (-margin < result.low and result.high < margin)
    low, high = stats.ttest_1samp(diffs, 0.0).confidence_interval(0.90)
    assert (result.low, result.high) == pytest.approx((low, high), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("margin", "sd"), [(0.01, 0.008), (1.0, 1.5)])
def test_tost_power_and_seeds_needed_against_simulation(margin, sd):
    n = seeds_needed_equivalence(margin, sd)
    draws = np.random.default_rng(1).normal(0.0, sd, size=(20_000, n))
    mean, se = draws.mean(1), draws.std(1, ddof=1) / math.sqrt(n)
    crit = stats.t.ppf(0.95, n - 1)
    simulated = np.mean(((mean + margin) / se > crit) & ((mean - margin) / se < -crit))
    # tost_power is P(A) + P(B) − 1, a lower bound of P(A and B): the simulation may lie a little above.
    assert tost_power(margin, sd, n) >= 0.8 > tost_power(margin, sd, n - 1)
    assert tost_power(margin, sd, n) - 0.015 <= simulated <= tost_power(margin, sd, n) + 0.03
    assert tost_power(minimum_equivalence_margin(sd, n), sd, n) == pytest.approx(0.8, abs=1e-9)


# --- ASO: the same numbers as the deepsig package -----------------------------------------------------
@pytest.mark.parametrize(("n_a", "n_b", "shift", "seed"), [(5, 5, 0.5, 0), (3, 7, 0.0, 3), (12, 9, -0.4, 11)])
def test_aso_equals_deepsig(n_a, n_b, shift, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(shift, 1, n_a), rng.normal(0, 1, n_b)
    # 300 bootstrap iterations instead of 1,000 keep the package's slow loop to about a second per call.
    ours = aso(a, b, seed=seed, iterations=300)
    assert ours == pytest.approx(aso(a, b, seed=seed, iterations=300, backend="deepsig"), abs=1e-12)


def test_aso_reads_dominance_both_ways():
    low, high = [1.0, 2.0, 3.0, 4.0, 5.0], [11.0, 12.0, 13.0, 14.0, 15.0]
    # deepsig's integral leaves out its first grid point, so total reversal reads a little below 1.
    assert aso(high, low) == 0.0 and aso(low, high) > 0.99
    a, b = [1.0, 2.0, 3.0, 4.0], [1.1, 1.9, 3.1, 3.9]  # interleaved: no order either way
    assert aso(a, b) > 0.2 and aso(b, a) > 0.2


# --- items: the run's metric, and the hierarchical bootstrap --------------------------------------------
def test_item_metrics_reproduce_the_reference_implementations():
    rng = np.random.default_rng(5)
    tp = rng.integers(0, 3, 40)
    cols = {"tp": tp, "predicted": tp + rng.integers(0, 2, 40), "gold": tp + rng.integers(0, 2, 40)}
    expected = f1_from_counts(*(int(cols[k].sum()) for k in ("tp", "predicted", "gold")))
    assert value("sentence", "test/f1", cols) == pytest.approx(expected, abs=1e-12)
    confidence, correct = rng.uniform(0.1, 1.0, 300), rng.integers(0, 2, 300)
    confidence[:5] = [1.0, 0.0, 1 / 15, 2 / 15, 14 / 15]  # on the bin edges
    ece, _ = calibration_errors(confidence, correct)
    image = {"confidence": confidence, "correct": correct}
    assert value("image", "test/ece", image) == pytest.approx(ece, abs=1e-12)
    assert value("image", "test/accuracy", image) == pytest.approx(100 * correct.mean(), abs=1e-12)


def _brute_force_f1(tp, predicted, gold, picks):
    return f1_from_counts(*(sum(col[i] for i in picks) for col in (tp, predicted, gold)))


def test_bootstrap_replicates_equal_brute_force_over_every_resample():
    # 2 seeds × 3 sentences: every ordered seed draw (4) × every ordered item draw (27), equally likely.
    config = {"tp": np.array([[1, 2], [0, 1], [2, 2]]), "predicted": np.array([[2, 2], [1, 1], [2, 3]])}
    config["gold"] = np.array([[2, 2], [1, 2], [2, 2]])
    base = {"tp": np.array([[1, 1], [1, 0], [1, 2]]), "predicted": np.array([[1, 2], [2, 1], [2, 2]])}
    base["gold"] = config["gold"]
    item_draws = list(itertools.product(range(3), repeat=3))
    seed_draws = list(itertools.product(range(2), repeat=2))
    weights = np.array([np.bincount(d, minlength=3) for d in item_draws for _ in seed_draws], dtype=float)
    seed_index = np.array([s for _ in item_draws for s in seed_draws])
    paired = Paired("sentence", "test/f1", "test/f1", config, base)
    result = hierarchical_bootstrap(paired, weights=weights, seed_draws=seed_index)
    expected = [
        np.mean(
            [
                _brute_force_f1(*(config[k][:, s] for k in ("tp", "predicted", "gold")), d)
                - _brute_force_f1(*(base[k][:, s] for k in ("tp", "predicted", "gold")), d)
                for s in seeds
            ]
        )
        for d in item_draws
        for seeds in seed_draws
    ]
    assert result.replicates == pytest.approx(expected, abs=1e-12)
    # The random bootstrap converges to this exact distribution.
    sampled = hierarchical_bootstrap(paired, replicates=40_000, seed=2)
    exact = np.percentile(expected, [2.5, 97.5])
    assert (sampled.low, sampled.high) == pytest.approx(tuple(exact), abs=0.6)
    assert np.mean(sampled.replicates) == pytest.approx(np.mean(expected), abs=0.1)


@pytest.mark.parametrize("seed", [0, 1])
def test_bootstrap_of_ece_equals_calibration_errors_on_every_resample(seed):
    # ECE is no mean of items: each replicate re-bins its resampled items. 2 seeds × 4 images, all draws.
    conf = np.array([[0.95, 0.55], [0.62, 0.91], [0.99, 0.34], [0.71, 0.70]])
    hit = np.array([[1, 0], [0, 1], [1, 1], [1, 0]])
    conf_ts = np.clip(conf - 0.1, 0, 1)
    paired = Paired("image", "ece_ts", "ece", {"confidence_ts": conf_ts, "correct": hit},
                    {"confidence": conf, "correct": hit})  # fmt: skip
    draws = list(itertools.product(range(4), repeat=4))
    weights = np.array([np.bincount(d, minlength=4) for d in draws], dtype=float)
    seed_index = np.full((len(draws), 2), seed)  # the same seed twice: the item level alone
    result = hierarchical_bootstrap(paired, weights=weights, seed_draws=seed_index)
    expected = [
        calibration_errors(conf_ts[list(d), seed], hit[list(d), seed])[0]
        - calibration_errors(conf[list(d), seed], hit[list(d), seed])[0]
        for d in draws
    ]
    assert result.replicates == pytest.approx(expected, abs=1e-12)


def test_one_item_resample_is_shared_by_every_seed():
    # Every seed scores the same test set: with identical seeds, the spread is one seed's test-set spread,
    # not that divided by √seeds (what independent resamples per seed would give).
    rng = np.random.default_rng(3)
    correct = rng.integers(0, 2, (200, 1))
    config = {"correct": np.repeat(correct, 8, axis=1)}
    base = {"correct": np.zeros((200, 8), dtype=int)}
    many = hierarchical_bootstrap(Paired("image", "accuracy", "accuracy", config, base), 4000, seed=1)
    one = hierarchical_bootstrap(
        Paired("image", "accuracy", "accuracy", {"correct": correct}, {"correct": base["correct"][:, :1]}),
        4000,
        1,
    )
    binomial = 100 * math.sqrt(correct.mean() * (1 - correct.mean()) / 200)
    assert many.sd_items == pytest.approx(one.sd_items, rel=0.05)
    assert many.sd_items == pytest.approx(binomial, rel=0.1)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 50), st.integers(1, 20), st.integers(0, 1000))
def test_resample_weights_are_multinomial_counts(n_items, replicates, seed):
    w = resample_weights(np.random.default_rng(seed), replicates, n_items)
    assert w.shape == (replicates, n_items) and (w >= 0).all() and (w == np.round(w)).all()
    assert (w.sum(axis=1) == n_items).all()
