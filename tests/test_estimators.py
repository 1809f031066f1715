"""metrics/estimators.py, smooth_ece.py and selective.py, each estimator against an independent reference.

References (each optional one is importorskip'd, so the file runs where it is missing):
- torchmetrics BinaryCalibrationError / MulticlassCalibrationError: ece (l1) and mce (max), with no
  confidence of 1.0 (its bins are left-closed and it counts 1.0 in an extra bin, issue #3510).
- uncertainty-calibration (Kumar, Liang & Ma 2019; module `calibration`): ece (get_ece, equal width and
  right-closed like ours, so 0 and 1.0 included), ece_mass (get_ece_em), l2ce_debiased
  (get_calibration_error and lower_bound_scaling_ce, p=2, debias=True), ece_classwise (get_ece,
  mode="marginal": all K classes).
- netcal: ece equal-width and equal-mass (only where its quantile edges give the same bins: N a multiple of
  n_bins, no ties; its binned_statistic_dd refuses the duplicate edges that ties make).
- torch-uncertainty: adaptive ECE (= ece_mass without ties), Brier, classwise ECE, AURC / AUGRC without ties
  (its trapezoid differs from fd-shifts' by a known first segment and a 1/(1 − 1/N) factor: selective.py).
- relplot (Błasiok & Nakkiran): smece.
- sklearn: brier_score_loss, log_loss.
- brute force written here as plain loops: fd-shifts' risk-coverage loops (AURC / AUGRC with ties), the
  MaxLogit-pNorm per row, item-level consistency resampling.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelsmooth.metrics.calibration import calibration_errors
from labelsmooth.metrics.estimators import (
    CLASS_ESTIMATORS,
    ESTIMATORS,
    binary_estimators,
    class_estimators,
    consistency_bands,
)
from labelsmooth.metrics.selective import augrc, aurc, pnorm_confidence
from labelsmooth.metrics.smooth_ece import smooth_ece


def _binary(seed: int, n: int, power: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Confidences in (0, 1) (no 0 or 1.0) and a correctness that is miscalibrated by c ↦ c^power."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.01, 0.99, n)
    return c, rng.random(n) < c**power


def _logits(seed: int, n: int, k: int, scale: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64) * scale, torch.randint(0, k, (n,), generator=g)


def _kumar():
    """uncertainty-calibration's utils (pip `uncertainty-calibration`, top-level module `calibration`)."""
    utils = pytest.importorskip("calibration.utils")
    if not hasattr(utils, "get_calibration_error"):
        pytest.skip("a module `calibration` that is not uncertainty-calibration")
    return utils


def _torch_uncertainty(module: str) -> types.ModuleType:
    """A torch-uncertainty metric module, loaded without the package's __init__ (which imports Lightning CLI
    and torchvision): stub parent packages under a private name point at its folders, so only the metric
    files (torch, torchmetrics, matplotlib, seaborn) are executed."""
    try:
        spec = importlib.util.find_spec("torch_uncertainty")
    except (ImportError, ValueError, AttributeError):  # a blocked or half-imported package
        spec = None
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torch-uncertainty is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    alias = "_torch_uncertainty_reference"
    for name, folder in ((alias, root), (f"{alias}.metrics", root / "metrics")):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__path__ = [str(folder)]
            sys.modules[name] = stub
    name = f"{alias}.metrics.classification"
    if name not in sys.modules:
        stub = types.ModuleType(name)
        stub.__path__ = [str(root / "metrics" / "classification")]
        sys.modules[name] = stub
    return importlib.import_module(f"{name}.{module}")


# Strategies: confidences from a coarse grid make ties (and exact 0 and 1.0) common.
_grid_conf = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0])
_any_conf = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def _levels(draw, max_size: int = 60) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, max_size))
    conf = draw(st.lists(st.one_of(_grid_conf, _any_conf), min_size=n, max_size=n))
    correct = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return np.array(conf, dtype=np.float64), np.array(correct)


# ---------------------------------------------------------------- the entry points: keys, types, edge cases


def test_keys_are_the_documented_order_and_values_are_floats() -> None:
    c, y = _binary(0, 200)
    out = binary_estimators(torch.tensor(c), torch.tensor(y))
    assert tuple(out) == ESTIMATORS
    assert all(type(v) is float and math.isfinite(v) for v in out.values())
    z, labels = _logits(0, 200, 5)
    out = class_estimators(z, labels)
    assert tuple(out) == CLASS_ESTIMATORS == (*ESTIMATORS, "ece_classwise")
    assert all(type(v) is float and math.isfinite(v) for v in out.values())


def test_ece_is_calibration_errors_and_float32_inputs_give_the_same_numbers() -> None:
    c, y = _binary(1, 500)
    out = binary_estimators(torch.tensor(c), torch.tensor(y))
    assert (out["ece"], out["mce"]) == calibration_errors(torch.tensor(c), torch.tensor(y))
    c32 = torch.tensor(c, dtype=torch.float32)
    assert binary_estimators(c32, torch.tensor(y)) == binary_estimators(c32.double(), torch.tensor(y))


def test_exact_zero_and_one_fall_in_the_first_and_top_bins() -> None:
    # 15 bins: 0.0 -> bin 0, 0.9 -> bin 13, 0.98 and the two 1.0 -> bin 14 (right-closed top bin).
    conf = torch.tensor([0.0, 0.9, 1.0, 1.0, 0.98], dtype=torch.float64)
    correct = torch.tensor([False, True, True, False, True])
    out = binary_estimators(conf, correct)
    top_gap = abs(2 / 3 - (1.0 + 1.0 + 0.98) / 3)
    assert out["ece"] == pytest.approx(1 / 5 * 0.1 + 3 / 5 * top_gap, abs=1e-12)
    assert out["mce"] == pytest.approx(top_gap, abs=1e-12)
    # nll clips 1.0 to 1 − ε (sklearn's ε = float64 eps): the wrong 1.0 costs −log ε = 36.04.
    eps = np.finfo(np.float64).eps
    nll = -(np.log(eps) + np.log(0.9) + 2 * np.log1p(-eps) + np.log(0.98)) / 5
    assert out["nll"] == pytest.approx(nll, rel=1e-12)
    assert out["brier"] == pytest.approx((0 + 0.01 + 0 + 1 + 0.0004) / 5, abs=1e-12)


@pytest.mark.parametrize("hit", [True, False])
def test_all_correct_or_none_correct(hit: bool) -> None:
    c, _ = _binary(2, 40)
    out = binary_estimators(torch.tensor(c), torch.full((40,), hit))
    assert out["accuracy"] == float(hit)
    assert out["aurc"] == pytest.approx(0.0 if hit else 1.0, abs=1e-12)  # the risk is 0 (or 1) everywhere
    assert out["augrc"] == pytest.approx(
        0.0 if hit else 0.5, abs=1e-12
    )  # the generalized risk is κ·0 (or κ): area 0 (or 1/2)
    gap = np.mean(1 - c) if hit else np.mean(c)
    assert out["ece"] == pytest.approx(gap, abs=1e-12)  # every bin is off on the same side
    assert out["ece_mass"] == pytest.approx(gap, abs=1e-12)


def test_a_single_item() -> None:
    out = binary_estimators(torch.tensor([0.7]), torch.tensor([False]))
    assert out["ece"] == out["ece_mass"] == out["mce"] == pytest.approx(0.7)
    assert out["l2ce_debiased"] == 0.0  # a bin of one item has no variance estimate and adds 0 (as Kumar's)
    assert out["aurc"] == 1.0 and out["augrc"] == 0.5
    assert out["brier"] == pytest.approx(0.49) and out["nll"] == pytest.approx(-math.log(0.3))
    z = torch.tensor([[2.0, -math.inf, 0.0]])
    out = class_estimators(z, torch.tensor([0]))
    assert out["accuracy"] == 1.0 and out["aurc"] == 0.0
    assert out["nll"] == pytest.approx(math.log1p(math.exp(-2.0)))


def test_a_single_class_present_and_invalid_entries() -> None:
    z, _ = _logits(3, 120, 4)
    z[:, 3] = -math.inf  # an invalid tag: probability 0, never predicted
    labels = torch.zeros(120, dtype=torch.int64)  # only class 0 occurs
    out = class_estimators(z, labels)
    probs = torch.softmax(z, dim=1).numpy()
    sk = pytest.importorskip("sklearn.metrics")
    assert out["nll"] == pytest.approx(sk.log_loss(labels.numpy(), probs, labels=range(4)), rel=1e-10)
    ref = sk.brier_score_loss(labels.numpy(), probs, labels=range(4), scale_by_half=False)
    assert out["brier"] == pytest.approx(ref, rel=1e-10)
    # All K = 4 classes are averaged, the absent ones included: classes 1, 2 add their mean probability.
    hand = (calibration_errors(torch.tensor(probs[:, 0]), labels == 0)[0] + probs[:, 1:].mean(0).sum()) / 4
    assert out["ece_classwise"] == pytest.approx(hand, abs=1e-12)
    kumar = _kumar()  # uncertainty-calibration's marginal mode
    ref = kumar.get_ece(probs, labels.numpy(), num_bins=15, mode="marginal")
    assert out["ece_classwise"] == pytest.approx(ref, abs=1e-12)


def test_fewer_items_than_bins() -> None:
    conf = np.array([0.2, 0.6, 0.6])
    correct = np.array([1, 0, 1])
    out = binary_estimators(torch.tensor(conf), torch.tensor(correct), n_bins=15)
    # Kumar's equal-mass binning with N < n uses N runs; the tie 0.6, 0.6 stays in one bin: edges 0.4, 1.0.
    assert out["ece_mass"] == pytest.approx(1 / 3 * 0.8 + 2 / 3 * 0.1, abs=1e-12)
    # The 2-item bin: (0.6 − 0.5)² − 0.5·0.5/1 < 0; the 1-item bin adds 0; clipped at 0.
    assert out["l2ce_debiased"] == 0.0
    kumar = _kumar()
    assert out["ece_mass"] == pytest.approx(kumar.get_ece_em(conf, correct, num_bins=15), abs=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda: binary_estimators(torch.tensor([0.5, 0.5]), torch.tensor([True])),
        lambda: binary_estimators(torch.tensor([]), torch.tensor([])),
        lambda: binary_estimators(torch.tensor([1.5]), torch.tensor([True])),
        lambda: binary_estimators(torch.tensor([-0.1]), torch.tensor([True])),
        lambda: binary_estimators(torch.tensor([math.nan]), torch.tensor([True])),
        lambda: binary_estimators(torch.tensor([0.5]), torch.tensor([2])),
        lambda: binary_estimators(torch.tensor([0.5]), torch.tensor([True]), n_bins=0),
        lambda: smooth_ece(torch.tensor([0.5, 2.0]), torch.tensor([True, False])),
        lambda: aurc(torch.tensor([0.5, math.nan]), torch.tensor([True, False])),
        lambda: augrc(torch.tensor([math.inf]), torch.tensor([True])),
        lambda: class_estimators(torch.tensor([[0.0, math.nan]]), torch.tensor([0])),
        lambda: pnorm_confidence(torch.tensor([[-math.inf, -math.inf]])),
        lambda: pnorm_confidence(torch.tensor([1.0, 2.0])),
        lambda: pnorm_confidence(torch.tensor([[1.0, 2.0]]), p=0.0),
        lambda: consistency_bands(torch.tensor([0.5]), coverage=1.0),
    ],
)
def test_bad_inputs_raise_one_value_error(call) -> None:
    with pytest.raises(ValueError) as err:
        call()
    assert "\n" not in str(err.value)


def test_selective_areas_take_any_finite_score() -> None:
    # AURC / AUGRC depend on the ranking only: a score outside [0, 1] (e.g. an uncentered pNorm) is fine.
    score, y = torch.tensor([-3.0, 0.5, 7.0]), torch.tensor([False, True, True])
    assert aurc(score, y) == aurc(torch.tensor([0.1, 0.2, 0.3]), y)
    assert augrc(score, y) == augrc(torch.tensor([0.1, 0.2, 0.3]), y)


# ---------------------------------------------------------------- binned calibration errors vs references


@pytest.mark.parametrize("seed,n", [(0, 50), (1, 777), (2, 3000)])
def test_ece_and_mce_match_torchmetrics(seed: int, n: int) -> None:
    from torchmetrics.classification import BinaryCalibrationError, MulticlassCalibrationError

    c, y = _binary(seed, n)
    out = binary_estimators(torch.tensor(c), torch.tensor(y))
    preds, target = torch.tensor(c), torch.tensor(y).long()
    assert out["ece"] == pytest.approx(
        float(BinaryCalibrationError(n_bins=15, norm="l1")(preds, target)), abs=1e-6
    )
    assert out["mce"] == pytest.approx(
        float(BinaryCalibrationError(n_bins=15, norm="max")(preds, target)), abs=1e-6
    )
    z, labels = _logits(seed, n, 7)
    out = class_estimators(z, labels)
    probs = torch.softmax(z, dim=1)
    for key, norm in (("ece", "l1"), ("mce", "max")):
        ref = MulticlassCalibrationError(num_classes=7, n_bins=15, norm=norm)(probs, labels)
        assert out[key] == pytest.approx(float(ref), abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(level=_levels(), n_bins=st.integers(1, 20))
def test_binned_errors_match_uncertainty_calibration(level, n_bins: int) -> None:
    # Kumar et al.'s package: equal-width ECE (right-closed, as ours), equal-mass ECE and the debiased L2
    # error on its get_equal_bins, with ties, exact 0 / 1.0 and N < n_bins. Exact up to rounding.
    kumar = _kumar()
    conf, correct = level
    out = binary_estimators(torch.tensor(conf), torch.tensor(correct), n_bins=n_bins)
    labels = correct.astype(np.int64)
    assert out["ece"] == pytest.approx(kumar.get_ece(conf, labels, num_bins=n_bins), abs=1e-12)
    assert out["ece_mass"] == pytest.approx(kumar.get_ece_em(conf, labels, num_bins=n_bins), abs=1e-12)
    ref = kumar.lower_bound_scaling_ce(conf, labels, p=2, debias=True, num_bins=n_bins, mode="top-label")
    assert out["l2ce_debiased"] == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("seed,n", [(0, 40), (1, 500), (2, 4000)])
def test_debiased_l2_matches_get_calibration_error(seed: int, n: int) -> None:
    # The user-facing call with its defaults (15 equal-mass bins for continuous confidences), at both levels.
    kumar = _kumar()
    c, y = _binary(seed, n, power=2.0)
    out = binary_estimators(torch.tensor(c), torch.tensor(y))
    ref = kumar.get_calibration_error(c, y.astype(np.int64), p=2, debias=True, mode="top-label")
    assert out["l2ce_debiased"] == pytest.approx(ref, abs=1e-12)
    assert out["l2ce_debiased"] > 0
    z, labels = _logits(seed, n, 6, scale=3.0)
    out = class_estimators(z, labels)
    probs = torch.softmax(z, dim=1).numpy()
    ref = kumar.get_calibration_error(probs, labels.numpy(), p=2, debias=True, mode="top-label")
    assert out["l2ce_debiased"] == pytest.approx(ref, abs=1e-12)
    assert out["ece_mass"] == pytest.approx(kumar.get_ece_em(probs, labels.numpy(), num_bins=15), abs=1e-12)


@pytest.mark.parametrize("seed,n", [(0, 150), (1, 1500)])
def test_ece_matches_netcal(seed: int, n: int) -> None:
    netcal = pytest.importorskip("netcal.metrics")
    c, y = _binary(seed, n)
    out = binary_estimators(torch.tensor(c), torch.tensor(y))
    assert out["ece"] == pytest.approx(netcal.ECE(bins=15).measure(c, y.astype(np.int64)), abs=1e-9)
    # N is a multiple of 15 and there are no ties: netcal's np.quantile edges give the same bins as ours.
    ref = netcal.ECE(bins=15, equal_intervals=False).measure(c, y.astype(np.int64))
    assert out["ece_mass"] == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("seed,n", [(0, 15), (1, 101), (2, 2000)])
def test_ece_mass_matches_torch_uncertainty_adaptive_ece(seed: int, n: int) -> None:
    # torch-uncertainty's ACE splits the sorted confidences with tensor_split (the same runs as array_split)
    # but splits ties; without ties and with N >= n_bins the bins are ours.
    ace = _torch_uncertainty("calibration.adaptive_calibration_error")
    c, y = _binary(seed, n)
    out = binary_estimators(torch.tensor(c), torch.tensor(y))
    ref = ace._ace_compute(torch.tensor(c), torch.tensor(y, dtype=torch.float64), num_bins=15, norm="l1")
    assert out["ece_mass"] == pytest.approx(float(ref), abs=1e-12)


@pytest.mark.parametrize("seed,n,k", [(0, 60, 3), (1, 900, 9)])
def test_classwise_ece_matches_references(seed: int, n: int, k: int) -> None:
    kumar = _kumar()
    z, labels = _logits(seed, n, k)
    out = class_estimators(z, labels)
    probs = torch.softmax(z, dim=1)
    ref = kumar.get_ece(probs.numpy(), labels.numpy(), num_bins=15, mode="marginal")
    assert out["ece_classwise"] == pytest.approx(ref, abs=1e-12)
    cw = _torch_uncertainty("calibration.classwise_calibration_error")
    ref = cw.ClasswiseCalibrationError(num_classes=k, num_bins=15, norm="l1")(probs, labels)
    assert out["ece_classwise"] == pytest.approx(float(ref), abs=1e-6)  # float32, left-closed bins


# ---------------------------------------------------------------- smooth ECE vs relplot


@pytest.mark.parametrize(
    "seed,n,power",
    [(0, 1, 1.0), (1, 7, 1.0), (2, 300, 2.0), (3, 5000, 1.0), (4, 5000, 4.0)],
)
def test_smooth_ece_matches_relplot(seed: int, n: int, power: float) -> None:
    relplot = pytest.importorskip("relplot")
    c, y = _binary(seed, n, power)
    ours = smooth_ece(torch.tensor(c), torch.tensor(y))
    assert ours == pytest.approx(relplot.smECE(c, y.astype(np.float64)), abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(level=_levels(max_size=40))
def test_smooth_ece_matches_relplot_with_ties_and_end_points(level) -> None:
    relplot = pytest.importorskip("relplot")
    conf, correct = level
    ours = smooth_ece(torch.tensor(conf), torch.tensor(correct))
    assert ours == pytest.approx(relplot.smECE(conf, correct.astype(np.float64)), abs=1e-9)
    assert 0.0 <= ours <= 1.0


def test_smooth_ece_of_class_level_matches_relplot() -> None:
    relplot = pytest.importorskip("relplot")
    z, labels = _logits(5, 800, 5, scale=3.0)
    f, y = relplot.multiclass_logits_to_confidences(z.numpy(), labels.numpy())
    assert class_estimators(z, labels)["smece"] == pytest.approx(relplot.smECE(f, y), abs=1e-9)


# ---------------------------------------------------------------- Brier, NLL vs sklearn / torch-uncertainty


@settings(max_examples=25, deadline=None)
@given(level=_levels())
def test_binary_brier_and_nll_match_sklearn(level) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    conf, correct = level
    out = binary_estimators(torch.tensor(conf), torch.tensor(correct))
    assert out["brier"] == pytest.approx(sk.brier_score_loss(correct, conf, labels=[False, True]), abs=1e-12)
    assert out["nll"] == pytest.approx(sk.log_loss(correct, conf, labels=[False, True]), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed,n,k", [(0, 50, 2), (1, 1000, 9)])
def test_class_brier_and_nll_match_sklearn_and_torch_uncertainty(seed: int, n: int, k: int) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    z, labels = _logits(seed, n, k)
    z[::7, -1] = -math.inf  # some invalid entries (probability 0); labels there must point elsewhere
    labels[::7] = labels[::7] % (k - 1)
    out = class_estimators(z, labels)
    probs = torch.softmax(z, dim=1)
    p, y = probs.numpy(), labels.numpy()
    ref = sk.brier_score_loss(y, p, labels=range(k), scale_by_half=False)
    assert out["brier"] == pytest.approx(ref, rel=1e-10)
    assert out["nll"] == pytest.approx(sk.log_loss(y, p, labels=range(k)), rel=1e-10)
    brier = _torch_uncertainty("brier_score")
    assert out["brier"] == pytest.approx(float(brier.BrierScore(num_classes=k)(probs, labels)), rel=1e-6)


# ---------------------------------------------------------------- AURC / AUGRC


def _fd_shifts_areas(conf: np.ndarray, correct: np.ndarray) -> tuple[float, float]:
    """fd-shifts' selective_risk_stats / generalized_risk_stats loops and trapezoid, transcribed (÷1000)."""
    n = len(conf)
    idx = np.argsort(conf, kind="stable")  # ascending
    residuals = [1.0 - float(correct[i]) for i in idx]
    confidence = [float(conf[i]) for i in idx]
    cov, error_sum = n, sum(residuals)
    coverages, s_risks, g_risks = [1.0], [error_sum / n], [error_sum / n]
    for i in range(n - 1):
        cov -= 1
        error_sum -= residuals[i]
        if confidence[i] != confidence[i + 1]:
            coverages.append(cov / n)
            s_risks.append(error_sum / cov)
            g_risks.append(error_sum / n)
    coverages.append(0.0)
    s_risks.append(s_risks[-1])
    g_risks.append(0.0)

    def area(risks: list[float]) -> float:
        return -sum(
            (coverages[j + 1] - coverages[j]) * (risks[j + 1] + risks[j]) / 2 for j in range(len(risks) - 1)
        )

    return area(s_risks), area(g_risks)


@settings(max_examples=40, deadline=None)
@given(level=_levels())
def test_aurc_and_augrc_match_the_fd_shifts_loops(level) -> None:
    conf, correct = level
    ref_aurc, ref_augrc = _fd_shifts_areas(conf, correct)
    assert aurc(torch.tensor(conf), torch.tensor(correct)) == pytest.approx(ref_aurc, abs=1e-12)
    assert augrc(torch.tensor(conf), torch.tensor(correct)) == pytest.approx(ref_augrc, abs=1e-12)


@pytest.mark.parametrize("seed,n", [(0, 2), (1, 37), (2, 2500)])
def test_aurc_and_augrc_match_torch_uncertainty_without_ties(seed: int, n: int) -> None:
    # torch-uncertainty scores by the max probability and errs where argmax != label, as class_estimators.
    rc = _torch_uncertainty("risk_coverage")
    z, labels = _logits(seed, n, 4)
    probs = torch.softmax(z, dim=1)
    score, hit = probs.max(dim=1).values, probs.argmax(dim=1) == labels  # distinct scores almost surely
    top_error = float(not bool(hit[torch.argmax(score)]))  # r_1: the error of the most confident item
    tu_aurc, tu_augrc = rc.AURC(), rc.AUGRC()
    tu_aurc.update(probs, labels)
    tu_augrc.update(probs, labels)
    # Its trapezoid starts at coverage 1/N and is rescaled by 1/(1 − 1/N); fd-shifts' adds [0, 1/N]. Its
    # coverages are float32 (torch.arange / N), hence 1e-7.
    assert aurc(score, hit) == pytest.approx(float(tu_aurc.compute()) * (1 - 1 / n) + top_error / n, abs=1e-7)
    ref = float(tu_augrc.compute()) * (1 - 1 / n) + top_error / (2 * n * n)
    assert augrc(score, hit) == pytest.approx(ref, abs=1e-7)
    out = class_estimators(z, labels)
    assert (out["aurc"], out["augrc"]) == pytest.approx((aurc(score, hit), augrc(score, hit)), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(level=_levels(), seed=st.integers(0, 2**16))
def test_selective_laws(level, seed: int) -> None:
    conf, correct = level
    c, y = torch.tensor(conf), torch.tensor(correct)
    a, g = aurc(c, y), augrc(c, y)
    assert 0.0 <= g <= a <= 1.0
    # Permutation invariance, ties included: bit-for-bit (the sums at tie-group ends are exact).
    perm = torch.randperm(len(conf), generator=torch.Generator().manual_seed(seed))
    assert (aurc(c[perm], y[perm]), augrc(c[perm], y[perm])) == (a, g)
    # The oracle ranks every correct item above every error; it minimises AUGRC against any scores, ties
    # included, and its AUGRC is fd-shifts' closed form ½·(error rate)².
    noise = torch.rand(len(conf), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    oracle = y.double() * 2 + noise
    assert augrc(oracle, y) <= g + 1e-12
    assert augrc(oracle, y) == pytest.approx(0.5 * float((~y).double().mean()) ** 2, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(correct=st.lists(st.booleans(), min_size=1, max_size=50), seed=st.integers(0, 2**16))
def test_oracle_ranking_minimises_aurc_without_ties(correct: list[bool], seed: int) -> None:
    y = torch.tensor(correct)
    g = torch.Generator().manual_seed(seed)
    random_score = torch.rand(len(correct), generator=g, dtype=torch.float64)  # distinct almost surely
    oracle = y.double() * 2 + torch.rand(len(correct), generator=g, dtype=torch.float64)
    assert aurc(oracle, y) <= aurc(random_score, y) + 1e-12
    assert augrc(oracle, y) <= augrc(random_score, y) + 1e-12


def test_tied_errors_bridge_below_the_oracle_aurc() -> None:
    # fd-shifts' linear interpolation (kept): one correct item on top, two errors tied below it. The chord
    # from (1/3, 0) to (1, 2/3) lies under the oracle's points (2/3, 1/2), so the tie scores lower.
    y = torch.tensor([True, False, False])
    assert aurc(torch.tensor([0.9, 0.5, 0.5]), y) == pytest.approx(2 / 9, abs=1e-12)
    assert aurc(torch.tensor([0.9, 0.5, 0.4]), y) == pytest.approx(0.25 / 3 + (0.5 + 2 / 3) / 6, abs=1e-12)
    assert augrc(torch.tensor([0.9, 0.5, 0.5]), y) == pytest.approx(augrc(torch.tensor([0.9, 0.5, 0.4]), y))


# ---------------------------------------------------------------- calibration-error laws


@settings(max_examples=25, deadline=None)
@given(level=_levels(), seed=st.integers(0, 2**16), n_bins=st.integers(1, 20))
def test_calibration_errors_lie_in_the_unit_interval_and_ignore_item_order(
    level, seed: int, n_bins: int
) -> None:
    conf, correct = level
    c, y = torch.tensor(conf), torch.tensor(correct)
    out = binary_estimators(c, y, n_bins=n_bins)
    for key in ("ece", "ece_mass", "mce", "l2ce_debiased", "smece", "brier", "accuracy"):
        assert 0.0 <= out[key] <= 1.0, key
    assert out["ece"] <= out["mce"] + 1e-12
    perm = torch.randperm(len(conf), generator=torch.Generator().manual_seed(seed))
    shuffled = binary_estimators(c[perm], y[perm], n_bins=n_bins)
    assert shuffled == pytest.approx(out, abs=1e-12)


# ---------------------------------------------------------------- MaxLogit-pNorm


def _pnorm_loops(logits: torch.Tensor, p: float, centered: bool) -> list[float]:
    scores = []
    for row in logits.tolist():
        vals = [v for v in row if v != -math.inf]
        if len(vals) == 1:
            scores.append(1.0)
            continue
        mean = sum(vals) / len(vals) if centered else 0.0
        shifted = [v - mean for v in vals]
        norm = max(abs(v) for v in shifted) if p == math.inf else sum(abs(v) ** p for v in shifted) ** (1 / p)
        scores.append(max(shifted) / norm if norm > 0 else 0.0)
    return scores


@pytest.mark.parametrize("p,centered", [(2.0, True), (1.0, True), (3.5, False), (math.inf, True)])
def test_pnorm_matches_a_loop_over_rows(p: float, centered: bool) -> None:
    z, _ = _logits(6, 40, 5)
    z[::3, 1] = -math.inf
    z[5, :4] = -math.inf  # one valid entry: a forced prediction, score 1
    z[7] = 0.25  # all equal: score 0
    ours = pnorm_confidence(z, p=p, centered=centered)
    assert ours.tolist() == pytest.approx(_pnorm_loops(z, p, centered), abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    # Logits on a 1/8 grid: shift and scale invariance is then not lost to cancellation in z − mean z.
    rows=st.lists(st.lists(st.integers(-240, 240), min_size=2, max_size=6), min_size=1, max_size=20),
    shift=st.floats(-10, 10),
    scale=st.floats(0.1, 10),
)
def test_centered_pnorm_is_in_unit_interval_and_shift_scale_invariant(
    rows, shift: float, scale: float
) -> None:
    k = min(len(r) for r in rows)
    z = torch.tensor([r[:k] for r in rows], dtype=torch.float64) / 8
    s = pnorm_confidence(z)
    assert bool(((s >= 0) & (s <= 1 + 1e-12)).all())
    assert pnorm_confidence(z * scale + shift).tolist() == pytest.approx(s.tolist(), abs=1e-6)


# ---------------------------------------------------------------- consistency bands


def _bands_by_resampling_items(conf: np.ndarray, n_bins: int, rounds: int, coverage: float, seed: int):
    """Bröcker & Smith as written: draw N items with replacement, a label per drawn item, bin accuracies."""
    rng = np.random.default_rng(seed)
    edges = np.linspace(0, 1, n_bins + 1)
    acc = np.full((rounds, n_bins), np.nan)
    for r in range(rounds):
        drawn = conf[rng.integers(0, len(conf), len(conf))]
        labels = rng.random(len(conf)) < drawn
        bins = np.clip(np.searchsorted(edges[1:-1], drawn, side="left"), 0, n_bins - 1)
        for b in range(n_bins):
            if (bins == b).any():
                acc[r, b] = labels[bins == b].mean()
    lo, hi = (1 - coverage) / 2, (1 + coverage) / 2
    seen = ~np.isnan(acc).all(axis=0)
    lower, upper = np.full(n_bins, np.nan), np.full(n_bins, np.nan)
    lower[seen], upper[seen] = np.nanquantile(acc[:, seen], [lo, hi], axis=0)
    return lower, upper


def test_consistency_bands_match_item_level_resampling() -> None:
    rng = np.random.default_rng(7)
    conf = np.concatenate([rng.uniform(0.4, 1.0, 3000), [0.0, 1.0]])  # bins below 0.4 empty but bin 0
    lower, upper = consistency_bands(torch.tensor(conf), n_bins=10, rounds=3000, coverage=0.9, seed=1)
    ref_lower, ref_upper = _bands_by_resampling_items(conf, 10, 600, 0.9, seed=2)
    full = np.arange(4, 10)  # bins with hundreds of items; bins 1-3 are always empty; bin 0 holds one item
    assert np.isnan(lower[1:4]).all() and np.isnan(upper[1:4]).all()
    assert np.allclose(lower[full], ref_lower[full], atol=0.02)
    assert np.allclose(upper[full], ref_upper[full], atol=0.02)
    assert (lower[full] <= upper[full]).all()
    # Bin 0's single item (c = 0) is drawn in ~63% of rounds, always with label 0.
    assert lower[0] == upper[0] == 0.0


def test_consistency_bands_are_deterministic_and_cover_a_calibrated_model() -> None:
    c, _ = _binary(8, 5000)
    a = consistency_bands(torch.tensor(c), seed=3)
    b = consistency_bands(torch.tensor(c), seed=3)
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], consistency_bands(torch.tensor(c), seed=4)[0])
    # Labels drawn from the confidences themselves: the observed bin accuracies fall inside ~90% of bands.
    from labelsmooth.metrics.calibration import reliability_bins

    inside = []
    for seed in range(20):
        y = np.random.default_rng(100 + seed).random(c.size) < c
        acc = reliability_bins(torch.tensor(c), torch.tensor(y)).accuracy.numpy()
        inside.append((acc >= a[0]) & (acc <= a[1]))
    assert 0.8 <= np.mean(inside) <= 0.98
