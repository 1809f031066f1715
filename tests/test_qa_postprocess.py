"""Vectorised QA post-processing against a brute-force search over every span of every window."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import load_script
from hypothesis import given, settings
from hypothesis import strategies as st

from labelsmooth.data.qa_features import prepare_features
from labelsmooth.data.squad import parse_squad
from labelsmooth.data.synthetic_squad import generate_squad
from labelsmooth.metrics.qa_postprocess import postprocess
from labelsmooth.metrics.squad_v2 import squad_v2_scores
from labelsmooth.models.specs import EncoderSpec

_bench = load_script("benchmarks/bench_qa_postprocess.py")
loop_postprocess, synthetic_batch = _bench.loop_postprocess, _bench.synthetic_batch


def brute_force(features, contexts, ids, start, end, max_len, threshold):
    """Every (s, e) context pair of every window: per question the prediction (first best span in window,
    start, end order, or '' when null - best > threshold, BERT's rule), na_prob, best score, best texts."""
    out, na, best_scores, best_texts = {}, {}, {}, {}
    for q in range(len(ids)):
        best, texts, null = -math.inf, [], math.inf
        for f in np.nonzero(features["example_index"] == q)[0]:
            null = min(null, float(start[f, 0] + end[f, 0]))
            ok = np.nonzero(features["offsets"][f, :, 0] >= 0)[0]
            for s in ok:
                for e in ok[(ok >= s) & (ok - s < max_len)]:
                    score = float(start[f, s] + end[f, e])
                    text = contexts[q][features["offsets"][f, s, 0] : features["offsets"][f, e, 1]]
                    if score > best:
                        best, texts = score, [text]
                    elif score == best:
                        texts.append(text)
        out[ids[q]] = "" if null - best > threshold else texts[0]
        na[ids[q]] = 1 / (1 + math.exp(best - null))
        best_scores[ids[q]], best_texts[ids[q]] = best, texts
    return out, na, best_scores, best_texts


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), threshold=st.sampled_from([-2.0, 0.0, 1.5]), max_len=st.integers(1, 6))
def test_matches_brute_force(seed, threshold, max_len):
    features, contexts, ids, start, end = synthetic_batch(5, 28, seed)
    # round logits to a coarse grid so equal scores and exact null ties happen
    start, end = (start * 2).round() / 2, (end * 2).round() / 2
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
    want, want_na, want_best, want_texts = brute_force(
        features, contexts, ids, start, end, max_len, threshold
    )
    assert [pred[q] == "" for q in ids] == [want[q] == "" for q in ids]
    # with ties several spans share the best score: the chosen one must be one of them
    assert all(pred[q] in want_texts[q] for q in ids if pred[q])
    assert extra["best_score"].tolist() == [want_best[q] for q in ids]
    assert np.allclose([na[q] for q in ids], [want_na[q] for q in ids], atol=1e-6)
    assert ((extra["confidence"] > 0) & (extra["confidence"] <= 1)).all()
    assert extra["answered"].tolist() == [bool(pred[q]) for q in ids]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), threshold=st.sampled_from([-1.0, 0.0, 0.7]), max_len=st.integers(1, 6))
def test_matches_brute_force_texts_on_continuous_logits(seed, threshold, max_len):
    features, contexts, ids, start, end = synthetic_batch(5, 28, seed)
    pred, _, _ = postprocess(
        features,
        contexts,
        ids,
        start,
        end,
        n_best=28,
        max_answer_length=max_len,
        null_score_diff_threshold=threshold,
    )
    assert pred == brute_force(features, contexts, ids, start, end, max_len, threshold)[0]


def test_agrees_with_the_per_feature_loop_at_n_best_20():
    features, contexts, ids, start, end = synthetic_batch(60, 128, seed=3)
    for threshold in (-1.0, 0.0, 1.0):
        pred, _, _ = postprocess(
            features,
            contexts,
            ids,
            start,
            end,
            n_best=20,
            max_answer_length=30,
            null_score_diff_threshold=threshold,
        )
        assert pred == loop_postprocess(features, contexts, ids, start, end, threshold=threshold)
        assert 0 < sum(p == "" for p in pred.values()) < len(ids)


def test_null_threshold_follows_bert_and_ties_answer():
    # one window: context tokens 1 and 2; best span (1, 2) scores 2 + 3 = 5; null = 2 + 3 = 5
    features = {"offsets": np.array([[[-1, -1], [0, 1], [2, 3]]]), "example_index": np.array([0])}
    start, end = torch.tensor([[2.0, 2.0, -9.0]]), torch.tensor([[3.0, -9.0, 3.0]])
    assert postprocess(features, ["abcd"], ["q"], start, end)[0] == {"q": "abc"}  # null - best = 0, not > 0
    assert postprocess(features, ["abcd"], ["q"], start, end, null_score_diff_threshold=-0.1)[0] == {"q": ""}
    start[0, 0] = 4.0  # null 7: answer only with threshold >= 2
    assert postprocess(features, ["abcd"], ["q"], start, end, null_score_diff_threshold=2.0)[0] == {
        "q": "abc"
    }
    pred, na, _ = postprocess(features, ["abcd"], ["q"], start, end, null_score_diff_threshold=1.9)
    assert pred == {"q": ""} and na["q"] == pytest.approx(1 / (1 + math.exp(-2.0)))


def test_null_score_is_the_minimum_over_windows_and_the_best_span_may_sit_in_any_window():
    offsets = np.array([[[-1, -1], [0, 1], [2, 3]], [[-1, -1], [2, 3], [4, 5]]])
    features = {"offsets": offsets, "example_index": np.array([0, 0])}
    start = torch.tensor([[5.0, 0.0, 0.0], [1.0, 0.0, 2.0]])
    end = torch.tensor([[5.0, 0.0, 0.0], [1.0, 0.0, 1.5]])
    pred, na, extra = postprocess(features, ["abcdef"], ["q"], start, end)
    assert pred == {"q": "e"} and extra["null_score"][0] == 2.0 and extra["best_score"][0] == 3.5


def test_confidence_is_the_chosen_answers_share_of_all_candidates():
    # one window, context tokens 1 and 2: candidates (1,1), (1,2), (2,2) and the null
    features = {"offsets": np.array([[[-1, -1], [0, 1], [2, 3]]]), "example_index": np.array([0])}
    start, end = torch.tensor([[0.0, 2.0, 1.0]]), torch.tensor([[0.0, 1.0, 3.0]])
    pred, na, extra = postprocess(features, ["abcd"], ["q"], start, end, n_best=3, max_answer_length=5)
    scores = np.array([0.0, 3.0, 5.0, 4.0])  # null, (1,1), (1,2), (2,2)
    assert pred == {"q": "abc"}  # characters 0 to 3 (end-exclusive offsets)
    assert extra["confidence"][0] == pytest.approx(np.exp(5.0) / np.exp(scores).sum(), rel=1e-6)
    assert na["q"] == pytest.approx(1 / (1 + np.exp(5.0)), rel=1e-5)
    # abstaining: confidence is the null's share
    _, _, abstain = postprocess(features, ["abcd"], ["q"], start, end, n_best=3, null_score_diff_threshold=-6)
    assert abstain["confidence"][0] == pytest.approx(1 / np.exp(scores).sum(), rel=1e-6)


def test_gold_pointing_logits_recover_the_gold_answers_end_to_end():
    examples = parse_squad(generate_squad(12, seed=5))
    tokenizer = EncoderSpec().tokenizer()
    f = prepare_features(examples, tokenizer, max_length=64, doc_stride=24, max_query_length=24)
    start = torch.zeros(f["input_ids"].shape)
    end = torch.zeros(f["input_ids"].shape)
    rows = torch.arange(len(start))
    start[rows, torch.as_tensor(f["start_position"])] += 10.0
    end[rows, torch.as_tensor(f["end_position"])] += 10.0
    pred, na, _ = postprocess(f, [e.context for e in examples], [e.id for e in examples], start, end)
    assert squad_v2_scores(examples, pred, na)["exact"] == 100.0
    assert all(pred[e.id] == e.answers[0][0] for e in examples if e.answers)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 12), grid=st.sampled_from([0.0, 0.5]))
def test_top_k_positions_are_a_top_k_ordered_by_position(seed, k, grid):
    from labelsmooth.metrics.qa_postprocess import _top_k_positions

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(7, 12)).astype(np.float32)
    if grid:  # ties, also at the k-th value
        x = np.round(x / grid) * grid
    x[rng.random(x.shape) < 0.3] = -np.inf  # masked entries, as the QA module's logits have
    values, positions = _top_k_positions(x.copy(), k)
    assert (np.diff(positions, axis=1) > 0).all()
    assert (np.take_along_axis(x, positions, 1) == values).all()
    want = -np.sort(-x, axis=1)[:, :k]
    assert (np.sort(values, axis=1)[:, ::-1] == want).all()


def test_logits_masked_outside_the_context_give_the_same_answers():
    # the QA module hands over logits set to -inf outside its mask (question, padding; [CLS] kept)
    features, contexts, ids, start, end = synthetic_batch(80, 64, seed=11)
    outside = torch.as_tensor(features["offsets"][..., 0] < 0)
    outside[:, 0] = False
    masked = [x.masked_fill(outside, float("-inf")) for x in (start, end)]
    for n_best in (5, 20):
        want = postprocess(features, contexts, ids, start, end, n_best=n_best)
        got = postprocess(features, contexts, ids, *masked, n_best=n_best)
        assert got[0] == want[0] and got[1] == want[1]
        assert all((got[2][key] == want[2][key]).all() for key in want[2])
        short = (features["offsets"][..., 0] >= 0).sum(1) < n_best  # windows with < n_best context tokens
        assert short.any()


def test_questions_without_any_context_token_abstain():
    features = {"offsets": np.full((2, 3, 2), -1), "example_index": np.array([0, 1])}
    features["offsets"][1, 1:] = [[0, 1], [2, 3]]
    start, end = torch.zeros(2, 3), torch.zeros(2, 3)
    pred, na, extra = postprocess(features, ["", "abcd"], ["a", "b"], start, end, n_best=2)
    assert pred["a"] == "" and na["a"] == 1.0 and not extra["answered"][0]
    assert extra["confidence"][0] == pytest.approx(1.0)
    assert pred["b"] in ("a", "abc", "c")  # every span ties with the null: answered, by one of them
    empty = {"offsets": np.full((1, 3, 2), -1), "example_index": np.array([0])}
    assert postprocess(empty, [""], ["a"], start[:1], end[:1])[0] == {"a": ""}
