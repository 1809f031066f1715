"""QA features on the real MiniLM tokenizer: windows, gold pointers, validity mask, GLS targets on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelsmooth.data.qa_features import prepare_features
from labelsmooth.data.squad import QAExample, parse_squad
from labelsmooth.data.synthetic_squad import generate_squad
from labelsmooth.models.specs import EncoderSpec
from labelsmooth.smoothing import GaussianLabelSmoothing, LabelSmoothing


@pytest.fixture(scope="module")
def tokenizer():
    return EncoderSpec().tokenizer()


FILLER = "The weather was calm and the market was quiet that week. " * 4
CONTEXT = FILLER + "Later the company moved to Bilbao in 1935."
LONG = QAExample("long", "", CONTEXT, "Where did the company move?", [("Bilbao", CONTEXT.index("Bilbao"))])
NONE = QAExample("none", "", "Rosa Quist founded Helix Labs.", "Who leads Helix Labs?", [])


def test_answer_in_the_second_window_points_at_its_tokens_and_the_first_window_at_cls(tokenizer):
    f = prepare_features([LONG, NONE], tokenizer, max_length=48, doc_stride=16, max_query_length=16)
    windows = np.nonzero(f["example_index"] == 0)[0]
    assert len(windows) >= 2
    first, last = windows[0], windows[-1]
    assert f["offsets"][first, :, 1].max() < CONTEXT.index("Bilbao")  # window 1 stops before the answer
    assert f["start_position"][first] == 0 and f["end_position"][first] == 0
    s, e = f["start_position"][last], f["end_position"][last]
    assert 0 < s <= e
    tokens = tokenizer.convert_ids_to_tokens(f["input_ids"][last, s : e + 1].tolist())
    assert tokens == ["bilbao"] and CONTEXT[f["offsets"][last, s, 0] : f["offsets"][last, e, 1]] == "Bilbao"
    none = np.nonzero(f["example_index"] == 1)[0]
    assert (f["start_position"][none] == 0).all() and (f["end_position"][none] == 0).all()


def test_a_window_holding_only_part_of_the_answer_points_at_cls(tokenizer):
    context = FILLER + "It made steel beams and solar panels for export."
    answer = "steel beams and solar panels"
    ex = QAExample("part", "", context, "What did it make?", [(answer, context.index(answer))])
    f = prepare_features([ex], tokenizer, max_length=40, doc_stride=8, max_query_length=16)
    for i in range(len(f["input_ids"])):
        ctx = f["offsets"][i, :, 0] >= 0
        first, last = f["offsets"][i, ctx, 0].min(), f["offsets"][i, ctx, 1].max()
        whole = first <= ex.answers[0][1] and last >= ex.answers[0][1] + len(answer)
        s, e = f["start_position"][i], f["end_position"][i]
        if whole:
            assert context[f["offsets"][i, s, 0] : f["offsets"][i, e, 1]] == answer
        else:
            assert s == e == 0
    assert (f["start_position"] > 0).any() and (f["start_position"] == 0).any()


def test_positions_recover_every_gold_answer_of_synthetic_data(tokenizer):
    examples = parse_squad(generate_squad(25, seed=3))
    f = prepare_features(examples, tokenizer, max_length=64, doc_stride=24, max_query_length=24)
    assert np.bincount(f["example_index"]).max() > 1  # several windows
    found = set()
    for i in np.nonzero(f["start_position"] > 0)[0]:
        ex = examples[f["example_index"][i]]
        s, e = f["start_position"][i], f["end_position"][i]
        assert ex.context[f["offsets"][i, s, 0] : f["offsets"][i, e, 1]] == ex.answers[0][0]
        found.add(ex.id)
    assert found == {e.id for e in examples if e.answers}  # each answer is whole in some window


def test_white_space_around_an_answer_is_not_part_of_its_tokens(tokenizer):
    context = "Rosa Quist runs Helix Labs in Lyon."
    ex = QAExample("ws", "", context, "Where?", [(" Lyon", context.index(" Lyon"))])
    f = prepare_features([ex], tokenizer, max_length=32, doc_stride=8)
    s, e = f["start_position"][0], f["end_position"][0]
    assert context[f["offsets"][0, s, 0] : f["offsets"][0, e, 1]] == "Lyon"


def test_mask_covers_cls_and_context_only(tokenizer):
    f = prepare_features([NONE, LONG], tokenizer, max_length=40, doc_stride=8, max_query_length=16)
    ids, mask = f["input_ids"], f["context_mask"]
    assert mask[:, 0].all() and (ids[:, 0] == tokenizer.cls_token_id).all()
    tokens = tokenizer.convert_ids_to_tokens(ids[0][mask[0]][1:].tolist())
    assert tokenizer.convert_tokens_to_string(tokens) == "rosa quist founded helix labs."
    special = np.isin(ids, [tokenizer.sep_token_id, tokenizer.pad_token_id])
    assert not mask[special].any()
    question = (f["token_type_ids"] == 0) & (f["attention_mask"] == 1) & ~special
    question[:, 0] = False
    assert question.any() and not mask[question].any()
    assert ((f["offsets"][..., 0] >= 0) == (mask & (np.arange(mask.shape[1]) > 0))).all()


def test_a_long_question_is_cut_to_max_query_length(tokenizer):
    q = QAExample("q5", "", "Rosa Quist runs Helix Labs.", "why " * 20 + "?", [("Rosa Quist", 0)])
    f = prepare_features([q], tokenizer, max_length=48, doc_stride=8, max_query_length=10)
    question = (f["token_type_ids"][0] == 0) & (f["attention_mask"][0] == 1)
    assert question.sum() == 10 + 2  # [CLS] + 10 question tokens + [SEP]
    assert f["start_position"][0] > 0


def test_a_question_leaving_no_room_for_context_names_the_question(tokenizer):
    q = QAExample("q7", "", "short context", "why " * 40, [])
    with pytest.raises(
        ValueError, match=r"question q7: 40 question tokens leave 21 context tokens .* doc_stride=24"
    ):
        prepare_features([NONE, q], tokenizer, max_length=64, doc_stride=24, max_query_length=64)


def test_no_examples_give_empty_arrays(tokenizer):
    f = prepare_features([], tokenizer, max_length=32, doc_stride=8)
    assert f["input_ids"].shape == (0, 32) and f["offsets"].shape == (0, 32, 2)


def test_gls_pointer_targets_on_a_real_window(tokenizer):
    f = prepare_features([LONG], tokenizer, max_length=48, doc_stride=16, max_query_length=16)
    i = int(f["start_position"].argmax())
    mask = torch.as_tensor(f["context_mask"][i : i + 1])
    target = torch.as_tensor(f["start_position"][i : i + 1])
    logits = torch.zeros(mask.shape)
    q = GaussianLabelSmoothing(alpha=0.1, sigma=1.0).targets(logits, target, mask, "pointer")[0]
    assert q[~mask[0]].abs().max() == 0 and q.sum().item() == pytest.approx(1.0)
    y = int(target)
    # the Gaussian mass sits on the gold token's neighbours (both are context tokens here)
    assert q[y] > q[y + 1] > q[y + 2] > 0 and q[y - 1] == pytest.approx(q[y + 1].item())
    ls = LabelSmoothing(alpha=0.1).targets(logits, target, mask, "pointer")[0]
    assert q[y + 1] > ls[y + 1]
    # by the formula: q_i = 0.9·[i = y] + 0.1·exp(-(i-y)²/2) / Σ_valid exp(-(j-y)²/2)
    positions = torch.arange(mask.shape[1], dtype=torch.float64)
    kernel = torch.exp(-((positions - y) ** 2) / 2) * mask[0]
    expected = 0.1 * kernel / kernel.sum()
    expected[y] += 0.9
    torch.testing.assert_close(q.double(), expected, atol=1e-6, rtol=0)


def test_features_built_in_chunks_equal_those_of_one_call(tokenizer, monkeypatch):
    """Tokenised in chunks (so a stop signal is acted on between them), the windows are the same."""
    import labelsmooth.data.qa_features as qa_features

    examples = parse_squad(generate_squad(n_paragraphs=6, seed=3), "synthetic")
    whole = prepare_features(examples, tokenizer, max_length=64, doc_stride=16, max_query_length=16)
    monkeypatch.setattr(qa_features, "CHUNK", 7)
    chunked = prepare_features(examples, tokenizer, max_length=64, doc_stride=16, max_query_length=16)
    assert len(examples) > 2 * 7 and whole.keys() == chunked.keys()
    for key in whole:
        np.testing.assert_array_equal(chunked[key], whole[key], err_msg=key)
