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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

NEG, POS = float("-inf"), float("inf")


def _segment(values: Tensor, segment: Tensor, n: int, reduce: str, init: float) -> Tensor:
    """Per-segment max/min of `values` (segments with no values keep `init`)."""
    return torch.full((n,), init, dtype=values.dtype, device=values.device).scatter_reduce(
        0, segment, values, reduce
    )


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
    from `prepare_features`; contexts/ids: per example; start/end_logits: (F, L). The extra dict holds
    `confidence`, `answered`, `best_score`, `null_score` (numpy, one entry per question).
    """
    if n_best < 1 or max_answer_length < 1:
        raise ValueError(f"n_best={n_best}, max_answer_length={max_answer_length}: expected both >= 1")
    start, end = start_logits.detach().float(), end_logits.detach().float()
    if start.shape != end.shape or start.dim() != 2:
        raise ValueError(
            f"start/end logits: shapes {tuple(start.shape)}, {tuple(end.shape)}; expected (F, L)"
        )
    device = start.device
    n_features, length = start.shape
    offsets = torch.as_tensor(np.asarray(features["offsets"]), device=device)
    example = torch.as_tensor(np.asarray(features["example_index"]), device=device).long()
    if offsets.shape[:2] != start.shape or example.shape != (n_features,):
        raise ValueError(
            f"features: offsets {tuple(offsets.shape)} and example_index {tuple(example.shape)} do not match "
            f"logits {tuple(start.shape)}"
        )
    n_examples = len(ids)
    arange_f = torch.arange(n_features, device=device)

    # n-best context tokens per window, then every (start, end) pair of them: (F, k, k)
    span_ok = offsets[..., 0] >= 0  # [CLS], question, special tokens and padding are never in a span
    k = min(n_best, length)
    top_s, idx_s = start.masked_fill(~span_ok, NEG).topk(k, dim=1)
    top_e, idx_e = end.masked_fill(~span_ok, NEG).topk(k, dim=1)
    span_len = idx_e[:, None, :] - idx_s[:, :, None] + 1
    valid = (span_len >= 1) & (span_len <= max_answer_length)
    valid &= torch.isfinite(top_s)[:, :, None] & torch.isfinite(top_e)[:, None, :]
    scores = (top_s[:, :, None] + top_e[:, None, :]).masked_fill(~valid, NEG).flatten(1)  # (F, k·k)
    best_in_window, flat = scores.max(1)
    null_in_window = start[:, 0] + end[:, 0]

    # per question: best span over its windows, null = min over its windows
    best = _segment(best_in_window, example, n_examples, "amax", NEG)
    null = _segment(null_in_window, example, n_examples, "amin", POS)
    # the first window reaching the question's best score holds its answer
    hit = torch.where(best_in_window == best[example], arange_f, n_features)
    window = _segment(hit, example, n_examples, "amin", n_features).clamp(max=max(n_features - 1, 0))
    has_span = torch.isfinite(best)
    s_tok = idx_s[window, flat[window] // k]
    e_tok = idx_e[window, flat[window] % k]
    char_s, char_e = offsets[window, s_tok, 0], offsets[window, e_tok, 1]
    answered = has_span & (null - best <= null_score_diff_threshold)

    # confidence: the chosen answer's share of exp(score) over all candidates of the question and its null
    window_lse = torch.logsumexp(scores, 1)  # -inf for a window without candidates
    shift = torch.maximum(_segment(window_lse, example, n_examples, "amax", NEG), null)
    mass = torch.zeros(n_examples, device=device).index_add(0, example, (window_lse - shift[example]).exp())
    log_z = shift + torch.log(mass + (null - shift).exp())
    confidence = torch.where(answered, best - log_z, null - log_z).exp()
    na_prob = torch.where(has_span, torch.sigmoid(null - best), torch.ones_like(null))

    char_s, char_e, answered_list = char_s.tolist(), char_e.tolist(), answered.tolist()
    predictions = {
        qid: contexts[i][char_s[i] : char_e[i]] if answered_list[i] else "" for i, qid in enumerate(ids)
    }
    na_probs = dict(zip(ids, na_prob.tolist(), strict=True))
    extra = {
        "confidence": confidence.cpu().numpy(),
        "answered": answered.cpu().numpy(),
        "best_score": best.cpu().numpy(),
        "null_score": null.cpu().numpy(),
    }
    return predictions, na_probs, extra
