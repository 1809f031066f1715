"""(question, context) pairs → windows with offsets, gold start/end tokens and the validity mask."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelsmooth.data.squad import QAExample

CLS = 0  # the [CLS] position: the pointer target of unanswerable questions and of windows without the answer


def prepare_features(
    examples: Sequence[QAExample], tokenizer, max_length: int, doc_stride: int, max_query_length: int
) -> dict[str, np.ndarray]:
    """Windows of every example (`doc_stride` tokens overlap), as arrays with one row per window.

    `context_mask` is True on [CLS] and the context tokens (the entries the pointer softmax may use);
    `offsets` holds context character spans, (-1, -1) elsewhere; the gold pointers are the first gold
    answer's tokens, or [CLS] when the question is unanswerable or this window does not hold the whole answer.
    """
    if not examples:
        return {
            k: np.zeros((0, max_length), np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")
        } | {
            "context_mask": np.zeros((0, max_length), bool),
            "offsets": np.zeros((0, max_length, 2), np.int64),
            "start_position": np.zeros(0, np.int64),
            "end_position": np.zeros(0, np.int64),
            "example_index": np.zeros(0, np.int64),
        }
    questions = [e.question.strip() for e in examples]
    q_lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    for example, n in zip(examples, q_lengths, strict=True):
        if n > max_query_length or n + 3 >= max_length:
            raise ValueError(
                f"question {example.id}: {n} tokens; expected at most max_query_length={max_query_length} "
                f"and room for context in max_length={max_length}"
            )
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
    sequence_ids = np.array(
        [[-1 if s is None else s for s in enc.sequence_ids(i)] for i in range(n_features)]
    )
    context = sequence_ids == 1
    offsets = np.where(context[..., None], np.asarray(enc["offset_mapping"]), -1)
    example_index = np.asarray(enc["overflow_to_sample_mapping"])

    # Character span of each window's example's first gold answer (-1 when unanswerable).
    char_start = np.array([e.answers[0][1] if e.answers else -1 for e in examples])[example_index]
    char_end = np.array([e.answers[0][1] + len(e.answers[0][0]) if e.answers else -1 for e in examples])[
        example_index
    ]
    starts = context & (offsets[..., 0] <= char_start[:, None]) & (offsets[..., 1] > char_start[:, None])
    ends = context & (offsets[..., 0] < char_end[:, None]) & (offsets[..., 1] >= char_end[:, None])
    inside = starts.any(1) & ends.any(1) & (char_start >= 0)
    mask = context.copy()
    mask[:, CLS] = True
    type_ids = enc.get("token_type_ids", np.zeros_like(enc["input_ids"]))
    return {
        "input_ids": np.asarray(enc["input_ids"]),
        "attention_mask": np.asarray(enc["attention_mask"]),
        "token_type_ids": np.asarray(type_ids),
        "context_mask": mask,
        "offsets": offsets,
        "start_position": np.where(inside, starts.argmax(1), CLS),
        "end_position": np.where(inside, ends.argmax(1), CLS),
        "example_index": example_index,
    }
