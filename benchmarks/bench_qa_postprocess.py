"""Throughput of QA post-processing (questions/s at 384 tokens, n-best 20): vectorised vs a per-feature loop.

Both must return the same answers (checked in the run). `python benchmarks/bench_qa_postprocess.py`
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from labelsmooth.metrics.qa_postprocess import postprocess


def loop_postprocess(features, contexts, ids, start, end, n_best=20, max_answer_length=30, threshold=0.0):
    """The transformers-example way: per feature, n-best starts × ends in Python, best per question."""
    best = {i: (-math.inf, "") for i in range(len(ids))}
    null = {i: math.inf for i in range(len(ids))}
    offsets = features["offsets"]
    for f in range(start.shape[0]):
        ex = int(features["example_index"][f])
        s_log, e_log = start[f].tolist(), end[f].tolist()
        null[ex] = min(null[ex], s_log[0] + e_log[0])
        ok = [i for i in range(len(s_log)) if offsets[f, i, 0] >= 0]
        s_idx = sorted(ok, key=lambda i: -s_log[i])[:n_best]
        e_idx = sorted(ok, key=lambda i: -e_log[i])[:n_best]
        for s in s_idx:
            for e in e_idx:
                if e < s or e - s + 1 > max_answer_length:
                    continue
                score = s_log[s] + e_log[e]
                if score > best[ex][0]:
                    best[ex] = (score, contexts[ex][offsets[f, s, 0] : offsets[f, e, 1]])
    return {qid: best[i][1] if best[i][0] > null[i] + threshold else "" for i, qid in enumerate(ids)}


def synthetic_batch(n_questions: int, length: int, seed: int = 0):
    """Random logits for questions of 1–3 windows each, context from token 20 on, 4 characters a token."""
    rng = np.random.default_rng(seed)
    windows = rng.integers(1, 4, n_questions)
    example_index = np.repeat(np.arange(n_questions), windows)
    n = len(example_index)
    offsets = np.full((n, length, 2), -1)
    pos = np.arange(20, length - 1)
    offsets[:, 20 : length - 1, 0] = pos * 4
    offsets[:, 20 : length - 1, 1] = pos * 4 + 3
    contexts = ["".join(chr(97 + (i % 26)) for i in range(4 * length))] * n_questions
    ids = [f"q{i}" for i in range(n_questions)]
    start = torch.as_tensor(rng.normal(size=(n, length)), dtype=torch.float32)
    end = torch.as_tensor(rng.normal(size=(n, length)), dtype=torch.float32)
    return {"offsets": offsets, "example_index": example_index}, contexts, ids, start, end


def main() -> None:
    features, contexts, ids, start, end = synthetic_batch(2000, 384)
    t0 = time.perf_counter()
    fast, _, _ = postprocess(features, contexts, ids, start, end, n_best=20, max_answer_length=30)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = loop_postprocess(features, contexts, ids, start, end)
    t_loop = time.perf_counter() - t0
    same = fast == slow
    print(f"questions: {len(ids)}, windows: {len(start)}, length 384, n-best 20; same answers: {same}")
    print(f"vectorised: {len(ids) / t_fast:10.0f} questions/s ({t_fast:.3f} s)")
    print(f"loop:       {len(ids) / t_loop:10.0f} questions/s ({t_loop:.3f} s)")
    print(f"speed-up: {t_loop / t_fast:.1f}x")
    if not same:
        raise SystemExit("the two post-processors disagree")


if __name__ == "__main__":
    main()
