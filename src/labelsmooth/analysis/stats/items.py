"""Test items: a run's metric recomputed from its per-item scores, and the bootstrap over seeds and items.

A run's `scores_test.json` (and `calibration_test.json` with temperature scaling) holds one entry per test
item: entity counts per sentence (NER), exact / F1 per question (QA), correctness and confidence per image.
Each metric below turns item columns into the run's number, for any weighting of the items: weights of 1
give metrics.json's value (tests/test_item_scores.py checks this on real runs), multinomial counts give a
bootstrap replicate. Columns are (items × seeds) arrays, weights (replicates × items); results are
(replicates × seeds).

The hierarchical bootstrap counts both sources of noise in a paired difference: the training seed and the
sample of test items. Each replicate draws seeds with replacement (the same seed for both configurations:
paired) and one resample of the test items that every seed and both configurations share, because all of
them were scored on the same test set: its luck does not average out over seeds. (Resampling items
independently per seed would shrink the test-set share by the number of seeds.) The interval is the
2.5–97.5 % percentile of the replicate means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

N_BINS = 15  # Guo et al.'s ECE bins, as metrics.json reports
REPLICATES = 2000
CHUNK = 250  # replicates per block: bounds memory at CHUNK × items weights

Columns = dict[str, np.ndarray]
ItemMetric = Callable[[Columns, np.ndarray], np.ndarray]


def _ner_f1(cols: Columns, w: np.ndarray) -> np.ndarray:
    # seqeval's micro F1 from the weighted entity totals, in its arithmetic (see conlleval.f1_from_counts).
    tp, predicted, gold = (w @ cols[k] for k in ("tp", "predicted", "gold"))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(gold > 0, tp / gold, 0.0)
        denominator = precision + recall
        return 100.0 * (2 * precision * recall / np.where(denominator > 0, denominator, 1.0))


def _mean_of(column: str, subset: str | None = None, scale: float = 100.0) -> ItemMetric:
    """scale × weighted mean of a column, over all items or those where `subset` is true (HasAns)."""

    def metric(cols: Columns, w: np.ndarray) -> np.ndarray:
        values = cols[column].astype(float)
        if subset is None:
            return scale * (w @ values) / w.sum(axis=1, keepdims=True)
        mask = cols[subset].astype(float) if subset != "~has_ans" else 1.0 - cols["has_ans"].astype(float)
        return scale * (w @ (values * mask)) / (w @ mask)

    return metric


def _ece(confidence: str) -> ItemMetric:
    """ECE over 15 equal-width bins (labelsmooth.metrics.calibration), the items weighted by w."""
    # torch's edges, so a confidence on an edge lands in the same bin as in the run (torch.bucketize).
    inner = torch.linspace(0.0, 1.0, N_BINS + 1, dtype=torch.float64)[1:-1].numpy()

    def metric(cols: Columns, w: np.ndarray) -> np.ndarray:
        conf, hit = cols[confidence].astype(float), cols["correct"].astype(float)
        n_items, n_seeds = conf.shape
        # Each seed bins its own confidences: one (items × seeds·bins) indicator, so three matrix products
        # give every seed's per-bin count, correct count and confidence sum at once.
        onehot = np.zeros((n_items, n_seeds, N_BINS))
        bins = np.searchsorted(inner, conf, side="left")
        onehot[np.arange(n_items)[:, None], np.arange(n_seeds)[None, :], bins] = 1.0
        flat = onehot.reshape(n_items, -1)
        counts = (w @ flat).reshape(len(w), n_seeds, N_BINS)
        hits = (w @ (onehot * hit[:, :, None]).reshape(n_items, -1)).reshape(counts.shape)
        confs = (w @ (onehot * conf[:, :, None]).reshape(n_items, -1)).reshape(counts.shape)
        safe = np.maximum(counts, 1.0)
        share = counts / counts.sum(axis=2, keepdims=True)
        return (share * np.abs(hits / safe - confs / safe)).sum(axis=2)

    return metric


def _selective(score: str, generalized: bool = False) -> ItemMetric:
    """AURC (or AUGRC) of the items weighted by w, as metrics/selective.py computes them for weights of 1.

    A weight is a number of copies: per distinct score (highest first) n_j = Σ w over the items accepted,
    e_j = Σ w·error, κ_j = n_j / Σ w, and the trapezoids of selective_areas; a score group of weight 0 adds a
    zero-width segment, and before the first group with weight the selective risk is that group's (flat).
    """

    def metric(cols: Columns, w: np.ndarray) -> np.ndarray:
        s, hit = cols[score].astype(float), cols["correct"].astype(float)
        out = np.empty((len(w), s.shape[1]))
        for k in range(s.shape[1]):  # each seed ranks its own scores
            order = np.argsort(-s[:, k], kind="stable")
            ranked, err = s[order, k], 1.0 - hit[order, k]
            ends = np.append(ranked[1:] != ranked[:-1], True)
            n = np.cumsum(w[:, order], axis=1)[:, ends]
            e = np.cumsum(w[:, order] * err, axis=1)[:, ends]
            cov = n / n[:, -1:]
            if generalized:
                risk = e / n[:, -1:]
                first = np.zeros((len(w), 1))
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    risk = e / n
                lead = np.argmax(n > 0, axis=1)
                first = risk[np.arange(len(w)), lead][:, None]
                risk = np.where(n > 0, risk, first)
            cov = np.concatenate([np.zeros((len(w), 1)), cov], axis=1)
            risk = np.concatenate([first, risk], axis=1)
            out[:, k] = (np.diff(cov, axis=1) * (risk[:, 1:] + risk[:, :-1]) / 2).sum(axis=1)
        return out

    return metric


def _gap(cols: Columns, w: np.ndarray) -> np.ndarray:
    """Mean confidence − accuracy (fractions): > 0 over-confident, < 0 under-confident."""
    return (w @ cols["confidence"].astype(float) - w @ cols["correct"].astype(float)) / w.sum(
        1, keepdims=True
    )


# (item unit, metric name without the split) -> the metric from item columns.
METRICS: dict[tuple[str, str], ItemMetric] = {
    ("sentence", "f1"): _ner_f1,
    ("question", "f1"): _mean_of("f1"),
    ("question", "exact"): _mean_of("exact"),
    ("question", "HasAns_f1"): _mean_of("f1", "has_ans"),
    ("question", "HasAns_exact"): _mean_of("exact", "has_ans"),
    ("question", "NoAns_f1"): _mean_of("f1", "~has_ans"),
    ("question", "NoAns_exact"): _mean_of("exact", "~has_ans"),
    ("image", "accuracy"): _mean_of("correct"),
    ("image", "error"): lambda cols, w: 100.0 - _mean_of("correct")(cols, w),
    ("image", "ece"): _ece("confidence"),
    ("image", "ece_ts"): _ece("confidence_ts"),
    ("image", "confidence_gap"): _gap,
    ("image", "aurc"): _selective("confidence"),
    ("image", "augrc"): _selective("confidence", generalized=True),
    ("image", "aurc_pnorm"): _selective("score_pnorm"),
    ("image", "augrc_pnorm"): _selective("score_pnorm", generalized=True),
}

# The columns each metric reads (what the compact results keep of a run's item files).
COLUMNS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sentence", "f1"): ("tp", "predicted", "gold"),
    **{("question", m): ("has_ans", "exact", "f1") for u, m in METRICS if u == "question"},
    ("image", "accuracy"): ("correct",),
    ("image", "error"): ("correct",),
    ("image", "ece"): ("correct", "confidence"),
    ("image", "ece_ts"): ("correct", "confidence_ts"),
    ("image", "confidence_gap"): ("correct", "confidence"),
    ("image", "aurc"): ("correct", "confidence"),
    ("image", "augrc"): ("correct", "confidence"),
    ("image", "aurc_pnorm"): ("correct", "score_pnorm"),
    ("image", "augrc_pnorm"): ("correct", "score_pnorm"),
}


def item_metric(unit: str, metric: str) -> ItemMetric | None:
    """The metric (`test/f1` or `f1`) for items of this unit, or None when items cannot give it."""
    return METRICS.get((unit, metric.rpartition("/")[2]))


def value(unit: str, metric: str, columns: dict[str, list | np.ndarray]) -> float:
    """The metric of one run from its item columns (every item once): metrics.json's number."""
    cols = {k: np.asarray(v)[:, None] for k, v in columns.items()}
    n = len(next(iter(cols.values())))
    fn = item_metric(unit, metric)
    if fn is None:
        raise KeyError(f"no per-item form of {metric} for items of unit {unit!r}")
    return float(fn(cols, np.ones((1, n)))[0, 0])


def resample_weights(rng: np.random.Generator, replicates: int, n_items: int) -> np.ndarray:
    """Multinomial(n, 1/n) counts per replicate: how often each item is drawn in a bootstrap sample."""
    draws = rng.integers(0, n_items, size=(replicates, n_items))
    flat = draws + n_items * np.arange(replicates)[:, None]
    return (
        np.bincount(flat.ravel(), minlength=replicates * n_items).reshape(replicates, n_items).astype(float)
    )


@dataclass(frozen=True)
class Paired:
    """Item columns of the paired seeds: (items × seeds) per column, for the configuration and baseline."""

    unit: str
    metric: str  # the configuration's metric
    baseline_metric: str
    config: Columns
    baseline: Columns

    def deltas(self, w: np.ndarray) -> np.ndarray:
        """(replicates × seeds) configuration − baseline for item weights w."""
        return item_metric(self.unit, self.metric)(self.config, w) - item_metric(
            self.unit, self.baseline_metric
        )(self.baseline, w)


@dataclass(frozen=True)
class BootstrapResult:
    low: float
    high: float
    sd_items: float  # sd of the seed-mean Δ over item resamples alone (seeds fixed): the test-set noise
    replicates: np.ndarray  # the hierarchical replicates of mean Δ


def hierarchical_bootstrap(
    paired: Paired,
    replicates: int = REPLICATES,
    seed: int = 0,
    confidence: float = 0.95,
    weights: np.ndarray | None = None,
    seed_draws: np.ndarray | None = None,
) -> BootstrapResult:
    """Percentile interval of mean Δ over resampled seeds and resampled test items (module docstring).

    weights / seed_draws replace the random draws (for tests that enumerate every resample).
    """
    n_items, n_seeds = next(iter(paired.config.values())).shape
    rng = np.random.default_rng(seed)
    if seed_draws is None:
        seed_draws = rng.integers(0, n_seeds, size=(replicates, n_seeds))
    means, item_only = [], []
    for start in range(0, len(seed_draws), CHUNK):
        stop = min(start + CHUNK, len(seed_draws))
        w = weights[start:stop] if weights is not None else resample_weights(rng, stop - start, n_items)
        deltas = paired.deltas(w)
        item_only.append(deltas.mean(axis=1))
        means.append(np.take_along_axis(deltas, seed_draws[start:stop], axis=1).mean(axis=1))
    values = np.concatenate(means)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return BootstrapResult(float(low), float(high), float(np.std(np.concatenate(item_only), ddof=1)), values)
