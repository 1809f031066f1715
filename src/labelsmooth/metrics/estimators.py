"""Calibration and selective-prediction estimators of one evaluation level, as one dict of floats.

A binary level has one confidence c_i ∈ [0, 1] (the probability that item i's prediction is right) and a
correctness y_i ∈ {0, 1} per item; a class level has (N, K) logits whose top label gives c_i = max_k p_ik and
y_i = 1[argmax_k p_ik = label_i]. With N items:

- accuracy = mean y.
- ece, mce: equal-width bins (b/n, (b+1)/n], 0 in the first, 1.0 in the top bin (calibration.py, Guo et
  al. 2017): ECE = Σ_b |B_b|/N·|ȳ_b − c̄_b|, MCE = max over non-empty bins of |ȳ_b − c̄_b|.
- ece_mass: the same sum over equal-mass bins, those of Kumar, Liang & Ma (2019, package
  `uncertainty-calibration`, `get_equal_bins`): sort c, split it into min(n, N) runs of as equal length as
  possible (np.array_split: the first N mod n runs one longer), put an edge halfway between the last
  value of a run and the first of the next, add 1.0, drop duplicate edges, and bin right-closed
  (edge_{b−1}, edge_b]. Tied confidences are never split: a tie across a run boundary gives the edge its
  value, and the whole tie goes to the lower bin (a bin may then be empty; it has weight 0). N < n gives
  one run per item.
- l2ce_debiased (Kumar et al. 2019, `get_calibration_error(p=2, debias=True)`): on those equal-mass bins,
  sqrt(max(0, Σ_b |B_b|/N·[(c̄_b − ȳ_b)² − ȳ_b(1 − ȳ_b)/(|B_b| − 1)])), where a bin of fewer than 2 items
  adds 0 (no variance estimate). The package's default is these 15 bins for continuous confidences; it
  switches to one bin per distinct value when there are fewer than N/4 distinct values (its is_discrete
  heuristic), which this does not do: n_bins always holds.
- smece: smooth_ece.py (Błasiok & Nakkiran 2023, as relplot).
- brier: binary mean (c − y)²; class mean_i Σ_k (p_ik − 1[y_i = k])² (the multiclass Brier score).
- nll: binary −mean[y log c + (1 − y) log(1 − c)] with c clipped to [ε, 1 − ε], ε = float64 machine epsilon
  (2.2e-16, sklearn's log_loss convention); class mean −log p_{i,y_i} from the float64 log-softmax, unclipped.
- aurc, augrc: selective.py, on the confidence c.
- ece_classwise (class level only; Kull et al. 2019): mean over all K classes, present in the labels or not,
  of the equal-width ECE of p_{·k} against 1[y = k]: a class absent from the labels adds its mean
  probability mean_i p_ik (0 for an invalid, -inf, entry). The convention of torch-uncertainty's
  ClasswiseCalibrationError and of uncertainty-calibration's marginal ECE (both average all K).

consistency_bands: Bröcker & Smith (2007) consistency resampling; see its docstring.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from labelsmooth.metrics.calibration import (
    DEFAULT_BINS,
    calibration_errors,
    check_logits,
    reliability_bins,
    scaled_log_probs,
)
from labelsmooth.metrics.selective import check_confidence, selective_areas
from labelsmooth.metrics.smooth_ece import smooth_ece

# Key order of binary_estimators (stable metric names); class_estimators appends ece_classwise.
ESTIMATORS: tuple[str, ...] = (
    "accuracy",
    "ece",
    "ece_mass",
    "mce",
    "l2ce_debiased",
    "smece",
    "brier",
    "nll",
    "aurc",
    "augrc",
)
CLASS_ESTIMATORS: tuple[str, ...] = (*ESTIMATORS, "ece_classwise")

# sklearn's log_loss clips probabilities to [eps, 1 - eps] with the float64 machine epsilon.
NLL_EPS = float(np.finfo(np.float64).eps)


def _check_bins(n_bins: int) -> None:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins={n_bins}: expected an integer >= 1")


def _width_edges(n_bins: int) -> np.ndarray:
    """The equal-width edges of reliability_bins (torch.linspace: the same floats, so the same bins)."""
    return torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64).numpy()


# The work below is numpy (single-threaded); see the note in selective.py.
def equal_mass_bins(confidence: np.ndarray, n_bins: int = DEFAULT_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Kumar et al.'s equal-mass edges of float64 confidences and each item's bin index (right-closed)."""
    _check_bins(n_bins)
    s = np.sort(confidence)
    runs = min(int(n_bins), s.size)
    # np.array_split sizes: the first N mod runs runs get one extra item; starts[j] opens run j + 1.
    sizes = np.full(runs, s.size // runs)
    sizes[: s.size % runs] += 1
    starts = np.cumsum(sizes)[:-1]
    mids = (s[starts - 1] + s[starts]) / 2.0  # the same float64 operation as the package's (a + b) / 2.0
    edges = np.unique(np.append(mids, 1.0))  # sorted, duplicates (from ties) dropped
    # side="left": index b means edges[b-1] < c <= edges[b], as the package's np.searchsorted.
    return edges, np.searchsorted(edges, confidence, side="left")


def equal_mass_errors(
    confidence: Tensor | np.ndarray, correct: Tensor | np.ndarray, n_bins: int = DEFAULT_BINS
) -> tuple[float, float]:
    """(ECE over equal-mass bins, debiased L2 calibration error of Kumar et al. 2019) of a binary level."""
    c, y = check_confidence(confidence, correct)
    edges, index = equal_mass_bins(c, n_bins)
    counts = np.bincount(index, minlength=edges.size).astype(np.float64)
    safe = np.maximum(counts, 1)
    conf_mean = np.bincount(index, weights=c, minlength=edges.size) / safe
    acc_mean = np.bincount(index, weights=y, minlength=edges.size) / safe
    weight = counts / c.size
    ece = float(np.sum(weight * np.abs(acc_mean - conf_mean)))
    # The plug-in (c̄ − ȳ)² overestimates the squared error by ~Var(ȳ_b); subtract its unbiased estimate.
    variance = acc_mean * (1 - acc_mean) / np.maximum(counts - 1, 1)
    square = np.where(counts >= 2, (conf_mean - acc_mean) ** 2 - variance, 0.0)
    return ece, float(np.sqrt(max(float(np.sum(weight * square)), 0.0)))


def brier_and_nll(confidence: Tensor | np.ndarray, correct: Tensor | np.ndarray) -> tuple[float, float]:
    """Binary Brier score mean (c − y)² and Bernoulli NLL with c clipped to [ε, 1 − ε] (sklearn's ε)."""
    c, y = check_confidence(confidence, correct)
    brier = float(np.mean((c - y) ** 2))
    clipped = np.clip(c, NLL_EPS, 1 - NLL_EPS)
    # where(), not y·log c + (1−y)·log(1−c): each item takes the log of its own outcome only.
    nll = float(-np.mean(np.where(y == 1, np.log(clipped), np.log1p(-clipped))))
    return brier, nll


def classwise_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """Mean over all K classes of the equal-width ECE of p_{·k} against 1[y = k] (Kull et al. 2019)."""
    _check_bins(n_bins)
    n, k = probs.shape
    hit = np.zeros((n, k))
    hit[np.arange(n), labels] = 1.0
    # The bins of reliability_bins (right-closed, 0 in bin 0), for all classes in one bincount of K·n cells.
    cell = np.searchsorted(_width_edges(n_bins)[1:-1], probs, side="left") + np.arange(k) * n_bins
    # Σ_b |B_b|/N·|ȳ_b − c̄_b| = Σ_b |Σ_{i ∈ B_b} (y_i − p_i)| / N per class; then the mean over the K classes.
    residual = np.bincount(cell.reshape(-1), weights=(hit - probs).reshape(-1), minlength=k * n_bins)
    return float(np.abs(residual).sum() / n / k)


def _level_estimators(c: np.ndarray, y: np.ndarray, n_bins: int) -> dict[str, float]:
    """The estimators shared by both levels (all but brier and nll), on validated float64 c and y."""
    ece, mce = calibration_errors(torch.from_numpy(c), torch.from_numpy(y), n_bins)
    ece_mass, l2ce = equal_mass_errors(c, y, n_bins)
    area, g_area = selective_areas(c, y)
    return {
        "accuracy": float(np.mean(y)),
        "ece": ece,
        "ece_mass": ece_mass,
        "mce": mce,
        "l2ce_debiased": l2ce,
        "smece": smooth_ece(c, y),
        "aurc": area,
        "augrc": g_area,
    }


def binary_estimators(confidence: Tensor, correct: Tensor, n_bins: int = DEFAULT_BINS) -> dict[str, float]:
    """All ESTIMATORS of a level of (confidence that the item is right, correctness) pairs."""
    _check_bins(n_bins)
    c, y = check_confidence(confidence, correct)
    values = _level_estimators(c, y, n_bins)
    values["brier"], values["nll"] = brier_and_nll(c, y)
    return {name: values[name] for name in ESTIMATORS}


def class_estimators(logits: Tensor, labels: Tensor, n_bins: int = DEFAULT_BINS) -> dict[str, float]:
    """CLASS_ESTIMATORS of (N, K) logits (-inf = invalid entry) and (N,) labels, on the top label."""
    _check_bins(n_bins)
    z, y = check_logits(logits, labels)
    log_p = scaled_log_probs(z).numpy()
    y = y.numpy()
    pred = log_p.argmax(axis=1)  # the first maximal entry on ties
    rows = np.arange(y.size)
    probs = np.exp(log_p)
    c = np.clip(probs[rows, pred], 0.0, 1.0)
    correct = (pred == y).astype(np.float64)
    values = _level_estimators(c, correct, n_bins)
    hit = np.zeros_like(probs)
    hit[rows, y] = 1.0
    values["brier"] = float(np.mean(np.sum((probs - hit) ** 2, axis=1)))
    values["nll"] = float(-np.mean(log_p[rows, y]))
    values["ece_classwise"] = classwise_ece(probs, y, n_bins)
    return {name: values[name] for name in CLASS_ESTIMATORS}


def consistency_bands(
    confidence: Tensor,
    n_bins: int = DEFAULT_BINS,
    rounds: int = 500,
    coverage: float = 0.9,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per equal-width bin, the (lower, upper) quantiles of a perfectly calibrated model's bin accuracy.

    Bröcker & Smith (2007): each round resamples the N confidences with replacement, draws y* ~ Bernoulli(c*)
    for each, and takes each bin's accuracy; the bands are the (1 ∓ coverage)/2 quantiles over the rounds in
    which the bin is non-empty, nan for a bin no confidence falls in. Sampled without drawing items: a
    round's bin counts are Multinomial(N, |B_b|/N), and a bin's n_b draws are uniform over its items, each
    then Bernoulli(c_i), so their sum is Binomial(n_b, c̄_b): the same distribution, O(rounds·bins) work.
    A fixed numpy Generator(seed) makes the bands a function of the inputs.
    """
    _check_bins(n_bins)
    if int(rounds) != rounds or rounds < 1:
        raise ValueError(f"rounds={rounds}: expected an integer >= 1")
    if not (0 < coverage < 1):
        raise ValueError(f"coverage={coverage}: expected a value in (0, 1)")
    c, _ = check_confidence(confidence, torch.zeros(torch.as_tensor(confidence).numel()))
    bins = reliability_bins(torch.from_numpy(c), torch.zeros(c.size), n_bins)
    share = bins.counts.numpy() / c.size
    mean_conf = bins.confidence.numpy().clip(0.0, 1.0)  # a mean of values <= 1 may round past 1
    rng = np.random.Generator(np.random.PCG64(seed))
    counts = rng.multinomial(c.size, share, size=int(rounds))  # (rounds, n_bins)
    hits = rng.binomial(counts, np.broadcast_to(mean_conf, counts.shape))
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(counts > 0, hits / counts, np.nan)
    lower = np.full(n_bins, np.nan)
    upper = np.full(n_bins, np.nan)
    seen = (counts > 0).any(axis=0)  # nanquantile warns on an all-nan column; skip those bins
    lo, hi = (1 - coverage) / 2, (1 + coverage) / 2
    lower[seen] = np.nanquantile(accuracy[:, seen], lo, axis=0)
    upper[seen] = np.nanquantile(accuracy[:, seen], hi, axis=0)
    return lower, upper
