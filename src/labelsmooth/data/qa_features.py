"""(question, context) pairs → windows with offsets, gold start/end tokens and the pointer validity mask."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelsmooth.constants import CLS_INDEX
from labelsmooth.data.squad import QAExample


def _empty(max_length: int) -> dict[str, np.ndarray]:
    ints = {k: np.zeros((0, max_length), np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    return ints | {
        "context_mask": np.zeros((0, max_length), bool),
        "offsets": np.zeros((0, max_length, 2), np.int64),
        "start_position": np.zeros(0, np.int64),
        "end_position": np.zeros(0, np.int64),
        "example_index": np.zeros(0, np.int64),
    }


def _questions(
    examples: Sequence[QAExample], tokenizer, max_length: int, doc_stride: int, max_query_length: int
):
    """Questions cut to max_query_length tokens (BERT's rule), checked to leave room for the context."""
    questions = [e.question.lstrip() for e in examples]  # leading spaces would only waste window room
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    lengths = np.array([len(ids) for ids in enc["input_ids"]])
    long = np.nonzero(lengths > max_query_length)[0]
    for i in long:  # rare: only the over-long questions are cut, at their last kept token's end
        questions[i] = questions[i][: enc["offset_mapping"][i][max_query_length - 1][1]]
    kept = np.minimum(lengths, max_query_length)
    room = max_length - kept - tokenizer.num_special_tokens_to_add(pair=True)
    bad = np.nonzero(room <= doc_stride)[0]
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"question {examples[i].id}: {kept[i]} question tokens leave {room[i]} context tokens per window "
            f"in max_length={max_length}; expected more than doc_stride={doc_stride} "
            f"(lower max_query_length or doc_stride, or raise max_length)"
        )
    return questions


# Examples per tokenizer call (about a second of tokenising): a stop signal waits at most that long.
CHUNK = 2000


def prepare_features(
    examples: Sequence[QAExample], tokenizer, max_length: int, doc_stride: int, max_query_length: int = 64
) -> dict[str, np.ndarray]:
    """Windows of every example (`doc_stride` tokens overlap), as arrays with one row per window.

    A question over max_query_length tokens is cut to that length (as in BERT's SQuAD code); one that still
    leaves no more than doc_stride context tokens per window is an error naming the question. Per window:
    `context_mask` is True on [CLS] and the context tokens (the entries the pointer softmax may use);
    `offsets` holds context character spans, (-1, -1) elsewhere; `start_position`/`end_position` are the
    first gold answer's first and last tokens, or [CLS] when the question is unanswerable or this window
    does not hold the whole answer; `example_index` is the window's example.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("tokenizer: a fast (Rust) tokenizer is required for offsets and overflowing windows")
    if tokenizer.padding_side != "right":
        raise ValueError(f"tokenizer.padding_side={tokenizer.padding_side!r}: expected 'right' ([CLS] at 0)")
    if not examples:
        return _empty(max_length)
    # In chunks: one fast-tokenizer call over SQuAD 2.0's 130k questions takes about a minute, during which
    # Python runs no signal handler, past SLURM's 30 s between SIGTERM and SIGKILL. A window depends on its
    # example alone, so the chunks' windows, joined, are the whole call's.
    parts = []
    for first in range(0, len(examples), CHUNK):
        part = _windows(examples[first : first + CHUNK], tokenizer, max_length, doc_stride, max_query_length)
        part["example_index"] += first
        parts.append(part)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _windows(
    examples: Sequence[QAExample], tokenizer, max_length: int, doc_stride: int, max_query_length: int
) -> dict[str, np.ndarray]:
    questions = _questions(examples, tokenizer, max_length, doc_stride, max_query_length)
    enc = tokenizer(
        questions,
        [e.context for e in examples],
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    n_features = len(enc["input_ids"])
    # None (special tokens, padding) -> nan; 1 marks the context
    sequence_ids = np.array([enc.sequence_ids(i) for i in range(n_features)], dtype=float)
    if not np.isnan(sequence_ids[:, CLS_INDEX]).all():
        raise ValueError("tokenizer: expected a special token ([CLS]) at position 0 of every window")
    context = sequence_ids == 1
    offsets = np.where(context[..., None], np.asarray(enc["offset_mapping"], dtype=np.int64), -1)
    example_index = np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64)

    # Character span [char_start, char_end) of each window's example's first gold answer (-1: none).
    first = [e.answers[0] if e.answers else ("", -1) for e in examples]
    char_start = np.array([s for _, s in first])[example_index][:, None]
    char_end = np.array([s + len(t) if s >= 0 else -1 for t, s in first])[example_index][:, None]
    # Answer tokens: from the first context token ending after char_start to the last starting before
    # char_end (white space at the answer's edges belongs to no token, so it is skipped).
    starts = context & (offsets[..., 1] > char_start)
    ends = context & (offsets[..., 0] < char_end)
    length = offsets.shape[1]
    start_tok = starts.argmax(1)
    end_tok = length - 1 - ends[:, ::-1].argmax(1)
    # the whole answer lies in the window: its context begins at or before the answer and ends after it
    window_first = np.where(context, offsets[..., 0], np.iinfo(np.int64).max).min(1)
    window_last = np.where(context, offsets[..., 1], -1).max(1)
    inside = (
        (char_start[:, 0] >= 0)
        & (window_first <= char_start[:, 0])
        & (window_last >= char_end[:, 0])
        & starts.any(1)
        & ends.any(1)
        & (start_tok <= end_tok)
    )
    mask = context.copy()
    mask[:, CLS_INDEX] = True
    input_ids = np.asarray(enc["input_ids"], dtype=np.int64)
    type_ids = enc["token_type_ids"] if "token_type_ids" in enc else np.zeros_like(input_ids)
    return {
        "input_ids": input_ids,
        "attention_mask": np.asarray(enc["attention_mask"], dtype=np.int64),
        "token_type_ids": np.asarray(type_ids, dtype=np.int64),
        "context_mask": mask,
        "offsets": offsets,
        "start_position": np.where(inside, start_tok, CLS_INDEX),
        "end_position": np.where(inside, end_tok, CLS_INDEX),
        "example_index": example_index,
    }
