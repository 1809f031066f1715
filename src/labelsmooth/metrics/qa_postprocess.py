"""Best answer per question over its windows from start/end logits: vectorised n-best search, null score."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

NEG = float("-inf")


def _segment_max(values: Tensor, segment: Tensor, n: int) -> Tensor:
    return torch.full((n,), NEG, dtype=values.dtype).scatter_reduce(0, segment, values, "amax")


def postprocess(
    features: dict[str, np.ndarray],
    contexts: Sequence[str],
    ids: Sequence[str],
    start_logits: Tensor,
    end_logits: Tensor,
    n_best: int = 20,
    max_answer_length: int = 30,
    null_score_diff_threshold: float = 0.0,
) -> tuple[dict[str, str], dict[str, float], dict[str, np.ndarray]]:
    """Predictions, no-answer probabilities and per-question answer confidence, keyed by question id.

    For each window: the best span among the n-best start × n-best end context tokens (start ≤ end,
    length ≤ max_answer_length), scored start + end logit; per question the best over its windows, and the
    null score min over windows of start[CLS] + end[CLS] (BERT's rule). The span is chosen when it beats
    null + threshold. na_prob = sigmoid(null − best span): a real probability, so best_*_thresh means
    something (the transformers example passes 0.0). Confidence = softmax over every candidate span of the
    question and the null, read at the chosen answer.
    """
    start, end = start_logits.float(), end_logits.float()
    n_features, length = start.shape
    offsets = torch.as_tensor(features["offsets"])
    example = torch.as_tensor(features["example_index"]).long()
    n_examples = len(ids)
    span_ok = offsets[..., 0] >= 0  # context tokens only ([CLS] and the question are never part of a span)
    k = min(n_best, length)
    top_s, idx_s = start.masked_fill(~span_ok, NEG).topk(k, dim=1)
    top_e, idx_e = end.masked_fill(~span_ok, NEG).topk(k, dim=1)
    span_len = idx_e[:, None, :] - idx_s[:, :, None] + 1
    scores = top_s[:, :, None] + top_e[:, None, :]
    scores = scores.masked_fill((span_len < 1) | (span_len > max_answer_length), NEG).flatten(1)  # (F, k·k)
    best_in_feature, flat = scores.max(1)
    null_feature = start[:, 0] + end[:, 0]

    best = _segment_max(best_in_feature, example, n_examples)
    null = -_segment_max(-null_feature, example, n_examples)  # min over the question's windows
    # the first window reaching the question's best score holds its answer
    hit = best_in_feature == best[example]
    window = torch.full((n_examples,), n_features).scatter_reduce(
        0, example, torch.where(hit, torch.arange(n_features), n_features), "amin"
    )
    has_span = torch.isfinite(best)
    window = window.clamp(max=n_features - 1)
    s_tok = idx_s[window, flat[window] // k]
    e_tok = idx_e[window, flat[window] % k]
    char_s, char_e = offsets[window, s_tok, 0], offsets[window, e_tok, 1]
    answer = has_span & (best > null + null_score_diff_threshold)

    # log-partition over all candidates of a question and its null score, for the answer confidence
    finite = torch.where(torch.isfinite(scores), scores, NEG)
    feat_lse = torch.logsumexp(finite, 1)
    shift = torch.maximum(_segment_max(feat_lse, example, n_examples), null)
    mass = torch.zeros(n_examples).scatter_add(0, example, (feat_lse - shift[example]).exp().nan_to_num(0.0))
    log_z = shift + torch.log(mass + (null - shift).exp())
    confidence = torch.where(answer, best - log_z, null - log_z).exp()
    na_prob = torch.sigmoid(torch.where(has_span, null - best, torch.full_like(null, 1e4)))

    predictions, na_probs = {}, {}
    for i, qid in enumerate(ids):
        predictions[qid] = contexts[i][int(char_s[i]) : int(char_e[i])] if answer[i] else ""
        na_probs[qid] = float(na_prob[i])
    return predictions, na_probs, {"confidence": confidence.numpy(), "answered": answer.numpy()}
