"""QA features on a real tokenizer: windows, gold pointers, validity mask; GLS pointer targets on them."""

from __future__ import annotations

import pytest
import torch

from labelsmooth.data.qa_features import prepare_features
from labelsmooth.data.squad import QAExample
from labelsmooth.models import EncoderSpec
from labelsmooth.smoothing import GaussianLabelSmoothing, LabelSmoothing


@pytest.fixture(scope="module")
def tokenizer():
    return EncoderSpec().tokenizer()


FILLER = "The weather was calm and the market was quiet that week. " * 4
CONTEXT = FILLER + "Later the company moved to Bilbao in 1935."
LONG = QAExample("long", "", CONTEXT, "Where did the company move?", [("Bilbao", CONTEXT.index("Bilbao"))])
NONE = QAExample("none", "", "Rosa Quist founded Helix Labs.", "Who leads Helix Labs?", [])


def test_answer_in_the_second_window_and_cls_elsewhere(tokenizer):
    f = prepare_features([LONG, NONE], tokenizer, max_length=48, doc_stride=16, max_query_length=16)
    windows = (f["example_index"] == 0).nonzero()[0]
    assert len(windows) >= 2
    first, last = windows[0], windows[-1]
    assert f["start_position"][first] == 0 and f["end_position"][first] == 0  # answer not in window 1
    s, e = f["start_position"][last], f["end_position"][last]
    assert s > 0 and CONTEXT[f["offsets"][last, s, 0] : f["offsets"][last, e, 1]] == "Bilbao"
    none = (f["example_index"] == 1).nonzero()[0]
    assert (f["start_position"][none] == 0).all() and (f["end_position"][none] == 0).all()


def test_mask_covers_cls_and_context_only(tokenizer):
    f = prepare_features([NONE], tokenizer, max_length=32, doc_stride=8, max_query_length=16)
    ids, mask = f["input_ids"][0], f["context_mask"][0]
    assert mask[0] and ids[0] == tokenizer.cls_token_id
    tokens = tokenizer.convert_ids_to_tokens(ids[mask][1:].tolist())
    assert tokenizer.convert_tokens_to_string(tokens) == "rosa quist founded helix labs."
    assert not mask[ids == tokenizer.sep_token_id].any() and not mask[ids == tokenizer.pad_token_id].any()


def test_question_longer_than_allowed_names_the_question(tokenizer):
    q = QAExample("q7", "", "short context", "why " * 40, [])
    with pytest.raises(ValueError, match="question q7: 40 tokens"):
        prepare_features([q], tokenizer, max_length=64, doc_stride=16, max_query_length=32)


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
