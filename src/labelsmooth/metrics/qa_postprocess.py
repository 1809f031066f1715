"""Best answer per question over its windows from start/end logits: vectorised n-best search and null score.

For each window, the best span among its n-best start × n-best end context tokens (start ≤ end < start +
max_answer_length), scored start + end logit; per question, the best over its windows, and the null score
min over windows of start[CLS] + end[CLS] (BERT's rule). As in BERT's `run_squad.py`, the question is
answered with that span unless null − best > null_score_diff_threshold.

No-answer probability: na_prob = sigmoid(null − best), a real probability, so the official best_*_thresh
means something (the transformers example passes 0.0 for every question). Predicting '' exactly when
na_prob > sigmoid(threshold) makes `--na-prob-thresh sigmoid(t)` of the official script reproduce a run
with null_score_diff_threshold = t. Answer confidence (for calibration): softmax over every candidate span
of the question (each window's n-best pairs; a span in two overlapping windows counts twice) and its null
score, read at the chosen answer (the span, or the null when it abstains).

How (CPU, numpy; ~20× a per-window Python loop): the n-best of every window at once from the k-th largest
logit of each row (one SIMD sort of all rows); the candidate pairs of a start, its n-best ends within
max_answer_length, are one run of the position-ordered ends, found by one binary search over all windows;
per-window and per-question reductions over contiguous runs (`reduceat`) or by index (`ufunc.at`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from torch import Tensor

NEG = np.float32(-np.inf)


def _top_k_positions(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest entries of each row of `x` (R, L), as (values, positions), both (R, k) and ordered by
    position. Which of several entries tied at the k-th value are kept is unspecified (as with `topk`).

    The k-th largest value of each row comes from numpy's sort (SIMD: several times faster than
    `torch.topk` on short rows); the entries at or above it are exactly the top k, except in rows with ties
    at that value, which are sorted by index.
    """
    rows, length = x.shape
    kth = np.sort(x, axis=1)[:, length - k, None]
    keep = x >= kth
    flat = np.flatnonzero(keep)
    # each row has at least k entries at or above its k-th value (NaN aside): k·R in all means k in each
    if len(flat) != rows * k or np.isnan(kth).any():
        tied = np.count_nonzero(keep, axis=1) != k
        keep[tied] = False
        positions = np.empty((rows, k), dtype=np.int64)
        positions[~tied] = np.flatnonzero(keep).reshape(-1, k) % length
        top = np.argsort(-x[tied], axis=1, kind="stable")[:, :k]  # NaN last; ties: first position first
        positions[tied] = np.sort(top, axis=1)
        flat = (positions + length * np.arange(rows)[:, None]).ravel()
    return x.ravel()[flat].reshape(rows, k), flat.reshape(rows, k) % length


def postprocess(
    features: Mapping[str, np.ndarray],
    contexts: Sequence[str],
    ids: Sequence[str],
    start_logits: Tensor,
    end_logits: Tensor,
    n_best: int = 20,
    max_answer_length: int = 30,
    null_score_diff_threshold: float = 0.0,
) -> tuple[dict[str, str], dict[str, float], dict[str, np.ndarray]]:
    """Predictions and no-answer probabilities keyed by question id, and per-question arrays in `ids` order.

    features: `offsets` (F, L, 2) context character spans (-1 outside the context) and `example_index` (F,)
    from `prepare_features`; contexts/ids: per example; start/end_logits: (F, L), on any device (the work
    is done on the CPU). The extra dict holds `confidence`, `answered`, `best_score`, `null_score` (numpy,
    one entry per question).
    """
    if n_best < 1 or max_answer_length < 1:
        raise ValueError(f"n_best={n_best}, max_answer_length={max_answer_length}: expected both >= 1")
    if start_logits.shape != end_logits.shape or start_logits.dim() != 2:
        raise ValueError(
            f"start/end logits: shapes {tuple(start_logits.shape)}, {tuple(end_logits.shape)}: "
            "expected (F, L)"
        )
    start = start_logits.detach().float().cpu().numpy()
    end = end_logits.detach().float().cpu().numpy()
    n_features, length = start.shape
    offsets = np.asarray(features["offsets"])
    example = np.asarray(features["example_index"]).astype(np.int64, copy=False)
    if offsets.shape[:2] != start.shape or example.shape != (n_features,):
        raise ValueError(
            f"features: offsets {tuple(offsets.shape)} and example_index {tuple(example.shape)} do not match "
            f"logits {tuple(start.shape)}"
        )
    n_examples = len(ids)

    # n-best context tokens per window ([CLS], question, special tokens and padding are never in a span),
    # each list ordered by position. Outside the context the logits get distinct fillers far below any
    # logit, -1e30·(1 + position/L), so that short windows tie nowhere; a window with fewer than k context
    # tokens fills its lists with them, and they become -inf.
    k = min(n_best, length)
    in_context = offsets[..., 0] >= 0
    filler = (-1e30 * (1 + np.arange(length) / length)).astype(np.float32)
    outside = np.where(in_context, np.float32(0), filler)
    biased = np.empty((2, n_features, length), dtype=np.float32)
    np.add(start, outside, out=biased[0])
    np.add(end, outside, out=biased[1])
    values, positions = _top_k_positions(biased.reshape(-1, length), k)
    pos_s, pos_e = positions[:n_features], positions[n_features:]
    top_s, top_e = values[:n_features], values[n_features:]
    top_s[~np.take_along_axis(in_context, pos_s, 1)] = NEG
    top_e[~np.take_along_axis(in_context, pos_e, 1)] = NEG
    top_s, top_e = top_s.ravel(), top_e.ravel()

    # Candidate pairs: start ≤ end < start + max_answer_length. A window's ends are ordered by position, so
    # the partners of a start are a run of them: one binary search over all windows (row r's positions
    # shifted by r·stride) gives each start's first partner `lo` and its number `count`, as indices into
    # the flattened (F·k) lists. Pairs come out ordered by window, start, end: P in all.
    stride = length + max_answer_length + 1
    shift = (np.arange(n_features) * stride)[:, None]
    ends = (pos_e + shift).ravel()
    starts = (pos_s + shift).ravel()
    lo = np.searchsorted(ends, starts)
    count = np.searchsorted(ends, starts + max_answer_length) - lo
    count[~np.isfinite(top_s)] = 0
    start_slot = np.repeat(np.arange(n_features * k), count)
    n_pairs = len(start_slot)
    end_slot = np.arange(n_pairs) + np.repeat(lo - (np.cumsum(count) - count), count)
    score = top_s[start_slot] + top_e[end_slot]  # -inf with a filler end
    pair_window = start_slot // k

    # per window: best pair (the first reaching it), over the contiguous run of its pairs
    window_pairs = count.reshape(n_features, k).sum(1)
    used = window_pairs > 0
    window_first = (np.cumsum(window_pairs) - window_pairs)[used]
    best_in_window = np.full(n_features, NEG)
    first_hit = np.zeros(n_features, dtype=np.int64)
    if n_pairs:
        best_in_window[used] = np.maximum.reduceat(score, window_first)
        hit = np.where(score == best_in_window[pair_window], np.arange(n_pairs), n_pairs)
        first_hit[used] = np.minimum.reduceat(hit, window_first)

    # per question: best span over its windows (the first window reaching it holds the answer), null = min
    # over its windows of start[CLS] + end[CLS]
    best = np.full(n_examples, NEG)
    np.maximum.at(best, example, best_in_window)
    null = np.full(n_examples, np.float32(np.inf))
    np.minimum.at(null, example, start[:, 0] + end[:, 0])
    window = np.full(n_examples, n_features)
    np.minimum.at(
        window, example, np.where(best_in_window == best[example], np.arange(n_features), n_features)
    )
    window = window.clip(max=max(n_features - 1, 0))
    has_span = np.isfinite(best)
    answered = has_span & (null - best <= null_score_diff_threshold)
    pair = first_hit[window].clip(max=max(n_pairs - 1, 0)) if n_features else window
    s_tok = pos_s.ravel()[start_slot[pair]] if n_pairs else np.zeros_like(window)
    e_tok = pos_e.ravel()[end_slot[pair]] if n_pairs else np.zeros_like(window)
    char_s, char_e = offsets[window, s_tok, 0], offsets[window, e_tok, 1]

    # confidence: the chosen answer's share of exp(score) over all candidates of the question and its null
    scale = np.maximum(best, null).astype(np.float64)  # at least every score of the question: no overflow
    pair_question = example[pair_window]
    mass = np.zeros(n_examples)
    if n_pairs:
        window_mass = np.add.reduceat(np.exp(score - scale[pair_question]), window_first)
        np.add.at(mass, example[used], window_mass)
    log_z = scale + np.log(mass + np.exp(null - scale))
    confidence = np.exp(np.where(answered, best - log_z, null - log_z)).astype(np.float32)
    with np.errstate(over="ignore"):
        na_prob = np.where(has_span, 1 / (1 + np.exp((best - null).astype(np.float64))), 1.0)

    char_s, char_e, answered_list = char_s.tolist(), char_e.tolist(), answered.tolist()
    predictions = {
        qid: contexts[i][char_s[i] : char_e[i]] if answered_list[i] else "" for i, qid in enumerate(ids)
    }
    na_probs = dict(zip(ids, na_prob.tolist(), strict=True))
    extra = {"confidence": confidence, "answered": answered, "best_score": best, "null_score": null}
    return predictions, na_probs, extra
