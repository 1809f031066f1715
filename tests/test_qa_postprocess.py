"""Vectorised QA post-processing against a brute-force search over every span of every window."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from labelsmooth.metrics.qa_postprocess import postprocess

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_qa_postprocess import loop_postprocess, synthetic_batch  # noqa: E402


def brute_force(features, contexts, ids, start, end, max_len, threshold):
    """Every (s, e) context pair of every window; the best per question against the min null score."""
    out, na = {}, {}
    for q in range(len(ids)):
        best, text, null = -math.inf, "", math.inf
        for f in np.nonzero(features["example_index"] == q)[0]:
            null = min(null, float(start[f, 0] + end[f, 0]))
            ok = np.nonzero(features["offsets"][f, :, 0] >= 0)[0]
            for s in ok:
                for e in ok[(ok >= s) & (ok - s < max_len)]:
                    score = float(start[f, s] + end[f, e])
                    if score > best:
                        best, text = (
                            score,
                            contexts[q][features["offsets"][f, s, 0] : features["offsets"][f, e, 1]],
                        )
        out[ids[q]] = text if best > null + threshold else ""
        na[ids[q]] = 1 / (1 + math.exp(best - null))
    return out, na


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), threshold=st.sampled_from([-2.0, 0.0, 1.5]), max_len=st.integers(1, 6))
def test_matches_brute_force(seed, threshold, max_len):
    features, contexts, ids, start, end = synthetic_batch(5, 28, seed)
    pred, na, extra = postprocess(
        features,
        contexts,
        ids,
        start,
        end,
        n_best=28,
        max_answer_length=max_len,
        null_score_diff_threshold=threshold,
    )
    want, want_na = brute_force(features, contexts, ids, start, end, max_len, threshold)
    assert pred == want
    assert np.allclose([na[q] for q in ids], [want_na[q] for q in ids], atol=1e-5)
    assert ((extra["confidence"] > 0) & (extra["confidence"] <= 1)).all()


def test_agrees_with_the_per_feature_loop_at_n_best_20():
    features, contexts, ids, start, end = synthetic_batch(60, 96, seed=3)
    pred, _, _ = postprocess(features, contexts, ids, start, end, n_best=20, max_answer_length=30)
    assert pred == loop_postprocess(features, contexts, ids, start, end)


def test_confidence_is_the_chosen_answers_share_of_all_candidates():
    # one window, context tokens 1 and 2: candidates (1,1), (1,2), (2,2) and the null
    features = {"offsets": np.array([[[-1, -1], [0, 1], [2, 3]]]), "example_index": np.array([0])}
    start, end = torch.tensor([[0.0, 2.0, 1.0]]), torch.tensor([[0.0, 1.0, 3.0]])
    pred, na, extra = postprocess(features, ["abcd"], ["q"], start, end, n_best=3, max_answer_length=5)
    scores = np.array([0.0, 3.0, 5.0, 4.0])  # null, (1,1), (1,2), (2,2)
    assert pred == {"q": "abc"}  # characters 0 to 3 (end-exclusive offsets)
    assert extra["confidence"][0] == pytest.approx(np.exp(5.0) / np.exp(scores).sum(), rel=1e-6)
    assert na["q"] == pytest.approx(1 / (1 + np.exp(5.0)), rel=1e-5)
