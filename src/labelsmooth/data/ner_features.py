"""Sub-word features for NER: fast-tokenizer alignment, whole-word windows, collation, and back to words.

Each word is scored once, at its first sub-word; other sub-words and special tokens get label -100 (or the
word's label with `label_all_tokens`, B- turned into I-). A sentence longer than the model's window is cut
into consecutive windows of whole words, never truncated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from labelsmooth.constants import IGNORE_INDEX
from labelsmooth.data.conll import Sentence

NO_WORD = -1  # word_index of special tokens and non-first sub-words


def _word_ids(encoding, index: int) -> np.ndarray:
    """The tokenizer's word id per sub-word of item `index`, with -1 for special tokens."""
    return np.array([NO_WORD if w is None else w for w in encoding.word_ids(index)], dtype=np.int64)


def _pieces_per_word(word_ids: np.ndarray, n_words: int) -> np.ndarray:
    return np.bincount(word_ids[word_ids >= 0], minlength=n_words)


def _windows(sentence: Sentence, pieces: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Greedy consecutive [start, end) word ranges whose sub-words fit in `budget`."""
    too_long = np.flatnonzero(pieces > budget)
    if too_long.size:
        i = int(too_long[0])
        raise ValueError(
            f"{sentence.path}:{sentence.line}: word {sentence.tokens[i]!r} has {pieces[i]} sub-words, "
            f"more than the {budget} that fit in max_length; raise max_length"
        )
    out, start, used = [], 0, 0
    for i, n in enumerate(pieces.tolist()):
        if used + n > budget:
            out.append((start, i))
            start, used = i, 0
        used += n
    out.append((start, len(pieces)))
    return out


def _label_ids(sentences: Sequence[Sentence], label2id: Mapping[str, int]) -> list[np.ndarray]:
    try:
        return [np.array([label2id[t] for t in s.tags], dtype=np.int64) for s in sentences]
    except KeyError as e:
        bad = next(s for s in sentences if any(t not in label2id for t in s.tags))
        raise ValueError(
            f"{bad.path}:{bad.line}: tag {e.args[0]!r} is not in label2id {list(label2id)}"
        ) from e


def _continuation_map(label2id: Mapping[str, int]) -> np.ndarray:
    """label id → the id a continuation sub-word gets (B-X → I-X, others unchanged)."""
    out = np.arange(max(label2id.values()) + 1)
    for label, i in label2id.items():
        if label.startswith("B-"):
            inside = "I-" + label[2:]
            if inside not in label2id:
                raise ValueError(
                    f"label_all_tokens: {label} has no {inside} in the label set {list(label2id)}"
                )
            out[i] = label2id[inside]
    return out


def encode_sentences(
    sentences: Sequence[Sentence],
    tokenizer,
    label2id: Mapping[str, int],
    max_length: int,
    label_all_tokens: bool = False,
) -> list[dict]:
    """Tokenise words with a fast tokenizer (batched) into features, one per sentence or per window.

    A feature holds `input_ids`, `labels`, `word_index` (1-D int64 tensors; `word_index` is the word's index
    in its *sentence* at first sub-words, -1 elsewhere) and `sentence_index` (an int).
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("encode_sentences: a fast tokenizer is required (word_ids() for alignment)")
    budget = max_length - tokenizer.num_special_tokens_to_add()
    if budget < 1:
        raise ValueError(f"max_length={max_length}: leaves no room for words after the special tokens")
    labels = _label_ids(sentences, label2id)
    if not sentences:
        return []
    words = [list(s.tokens) for s in sentences]
    enc = tokenizer(words, is_split_into_words=True, add_special_tokens=True)
    # One item per (sentence, first word); most sentences are a single window taken from the first call.
    items: list[tuple[int, int, list[int], np.ndarray]] = []
    redo: list[tuple[int, int, list[str]]] = []
    for si, sentence in enumerate(sentences):
        wid = _word_ids(enc, si)
        pieces = _pieces_per_word(wid, len(words[si]))
        if (pieces == 0).any():  # e.g. a lone soft hyphen: no sub-word to score, so it becomes [UNK]
            words[si] = [tokenizer.unk_token if n == 0 else w for w, n in zip(words[si], pieces, strict=True)]
            pieces = np.maximum(pieces, 1)
        elif len(enc["input_ids"][si]) <= max_length:
            items.append((si, 0, enc["input_ids"][si], wid))
            continue
        redo += [(si, a, words[si][a:b]) for a, b in _windows(sentence, pieces, budget)]
    if redo:
        enc2 = tokenizer([w for _, _, w in redo], is_split_into_words=True, add_special_tokens=True)
        for k, (si, start, window) in enumerate(redo):
            wid = _word_ids(enc2, k)
            if len(wid) > max_length or (_pieces_per_word(wid, len(window)) == 0).any():
                s = sentences[si]
                raise ValueError(
                    f"{s.path}:{s.line}: window at word {start} does not tokenise into max_length"
                )
            items.append((si, start, enc2["input_ids"][k], wid))
        items.sort(key=lambda item: (item[0], item[1]))
    return _label_features(
        items, labels, label_all_tokens, _continuation_map(label2id) if label_all_tokens else None
    )


def _label_features(
    items: list[tuple[int, int, list[int], np.ndarray]],
    labels: list[np.ndarray],
    label_all_tokens: bool,
    continuation: np.ndarray | None,
) -> list[dict]:
    """Labels and sentence-level word indices for all features at once (flat arrays, then split)."""
    lengths = np.array([len(ids) for _, _, ids, _ in items])
    wid = np.concatenate([w for _, _, _, w in items])
    starts = np.repeat([start for _, start, _, _ in items], lengths)
    sent = np.repeat([si for si, _, _, _ in items], lengths)
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in labels])])
    flat_labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    valid = wid >= 0
    word = np.where(valid, wid + starts, 0)
    prev = np.concatenate([[NO_WORD], wid[:-1]])
    prev[np.cumsum(lengths)[:-1]] = NO_WORD  # a feature's first token has no predecessor
    first = valid & (wid != prev)
    word_label = flat_labels[offsets[sent] + word] if flat_labels.size else np.zeros_like(wid)
    out_labels = np.where(first, word_label, IGNORE_INDEX)
    if label_all_tokens:
        out_labels = np.where(valid & ~first, continuation[word_label], out_labels)
    word_index = np.where(first, word, NO_WORD)
    bounds = np.cumsum(lengths)[:-1]
    return [
        {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.from_numpy(lab),
            "word_index": torch.from_numpy(wi),
            "sentence_index": si,
        }
        for (si, _, ids, _), lab, wi in zip(
            items, np.split(out_labels, bounds), np.split(word_index, bounds), strict=True
        )
    ]


def collate_features(features: Sequence[dict], pad_id: int) -> dict[str, Tensor]:
    """Pad a batch of features: input_ids with `pad_id`, labels with -100, word_index with -1."""

    def pad(key: str, value: int) -> Tensor:
        return torch.nn.utils.rnn.pad_sequence(
            [f[key] for f in features], batch_first=True, padding_value=value
        )

    input_ids = pad("input_ids", pad_id)
    lengths = torch.tensor([len(f["input_ids"]) for f in features])
    return {
        "input_ids": input_ids,
        "attention_mask": (torch.arange(input_ids.shape[1]) < lengths[:, None]).long(),
        "labels": pad("labels", IGNORE_INDEX),
        "word_index": pad("word_index", NO_WORD),
        "sentence_index": torch.tensor([f["sentence_index"] for f in features], dtype=torch.long),
    }


def words_from_predictions(
    pred: Tensor,
    word_index: Tensor,
    sentence_index: Tensor,
    sentence_lengths: Sequence[int],
    id2label: Sequence[str] | None = None,
) -> list[list]:
    """Per-sentence word-level predictions from per-token ones (B, T), read at each word's first sub-word.

    Rows may be windows of one sentence; every word of every sentence must be predicted exactly once.
    Returns label ids, or label names when `id2label` is given.
    """
    pred, word_index, sentence_index = pred.cpu(), word_index.cpu(), sentence_index.cpu()
    first = word_index >= 0
    rows = first.nonzero()[:, 0]
    offsets = torch.tensor([0, *np.cumsum(sentence_lengths).tolist()], dtype=torch.long)
    flat_index = offsets[sentence_index[rows]] + word_index[first]
    counts = torch.bincount(flat_index, minlength=int(offsets[-1]))
    if (counts != 1).any():
        bad = int(torch.nonzero(counts != 1)[0])
        si = int(torch.searchsorted(offsets, bad, right=True)) - 1
        raise ValueError(
            f"sentence {si} word {bad - int(offsets[si])} predicted {int(counts[bad])} times (expected once)"
        )
    flat = torch.empty(int(offsets[-1]), dtype=pred.dtype)
    flat[flat_index] = pred[first]
    per_sentence = [chunk.tolist() for chunk in torch.split(flat, list(sentence_lengths))]
    if id2label is None:
        return per_sentence
    return [[id2label[i] for i in ids] for ids in per_sentence]
