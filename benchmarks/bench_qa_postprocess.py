"""Throughput of QA post-processing (questions/s at 384 tokens, n-best 20): vectorised vs a per-feature loop.

Both run in the same process on the same logits, in interleaved rounds (noise hits both alike), and must
return the same answers (checked every run). The speed-up is the median over rounds of the per-round
ratio, with its range. Target: ≥ 20×.
`python benchmarks/bench_qa_postprocess.py [--questions 2000] [--threads 1] [--rounds 7]`
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch

from labelsmooth.metrics.qa_postprocess import postprocess


def loop_postprocess(features, contexts, ids, start, end, n_best=20, max_answer_length=30, threshold=0.0):
    """The transformers-example way: per window, argsort the logits, try n-best starts × ends in Python."""
    best = [(-math.inf, "") for _ in ids]
    null = [math.inf for _ in ids]
    offsets, example_index = features["offsets"], features["example_index"]
    start, end = start.numpy(), end.numpy()
    for f in range(start.shape[0]):
        q = int(example_index[f])
        null[q] = min(null[q], float(start[f, 0] + end[f, 0]))
        context = offsets[f, :, 0] >= 0
        s_idx = [i for i in np.argsort(start[f])[::-1] if context[i]][:n_best]
        e_idx = [i for i in np.argsort(end[f])[::-1] if context[i]][:n_best]
        for s in s_idx:
            for e in e_idx:
                if e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(start[f, s] + end[f, e])
                if score > best[q][0]:
                    best[q] = (score, contexts[q][offsets[f, s, 0] : offsets[f, e, 1]])
    # BERT's rule: abstain when null - best > threshold
    return {qid: "" if null[i] - best[i][0] > threshold else best[i][1] for i, qid in enumerate(ids)}


def synthetic_batch(n_questions: int, length: int, seed: int = 0):
    """Random logits for questions of 1–3 windows, shaped like `prepare_features` output.

    Each window: [CLS], a question of up to min(30, length // 4) tokens, [SEP], context tokens (4 characters
    each; successive windows overlap by a third, ~128 at length 384), [SEP], padding in the last window.
    CLS logits are shifted up so that about half of the questions abstain, as on SQuAD 2.0.
    """
    rng = np.random.default_rng(seed)
    windows = rng.integers(1, 4, n_questions)
    q_len = rng.integers(1, min(30, length // 4) + 1, n_questions)
    example_index = np.repeat(np.arange(n_questions), windows)
    n = len(example_index)
    # window number within its question
    first_row = np.repeat(np.cumsum(windows) - windows, windows)
    w = np.arange(n) - first_row
    room = length - q_len[example_index] - 3  # context tokens a window can hold
    ctx_begin = 2 + q_len[example_index]  # first context position
    last = w == windows[example_index] - 1
    ctx_len = np.where(last, rng.integers(1, room + 1), room)  # the last window may be short
    pos = np.arange(length)[None, :]
    in_ctx = (pos >= ctx_begin[:, None]) & (pos < (ctx_begin + ctx_len)[:, None])
    token = (pos - ctx_begin[:, None]) + (w * (room - room // 3))[:, None]  # context token number
    offsets = np.where(in_ctx[..., None], np.stack([4 * token, 4 * token + 3], -1), -1)
    total_tokens = np.zeros(n_questions, np.int64)
    np.maximum.at(total_tokens, example_index, token.max(1) + 1)
    alphabet = "abcdefghijklmnopqrstuvwxyz" * (4 * int(total_tokens.max()) // 26 + 1)
    contexts = [alphabet[: 4 * int(t)] for t in total_tokens]
    ids = [f"q{i}" for i in range(n_questions)]
    start = rng.normal(size=(n, length)).astype(np.float32)
    end = rng.normal(size=(n, length)).astype(np.float32)
    start[:, 0] += 3.2
    end[:, 0] += 3.2
    features = {"offsets": offsets, "example_index": example_index}
    return features, contexts, ids, torch.from_numpy(start), torch.from_numpy(end)


def _seconds(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: like the Python loop)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (loop, then vectorised)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    features, contexts, ids, start, end = synthetic_batch(args.questions, 384)

    def fast():
        return postprocess(features, contexts, ids, start, end, n_best=20, max_answer_length=30)[0]

    def slow():
        return loop_postprocess(features, contexts, ids, start, end)

    fast()  # warm-up (allocator, lazy imports)
    t_fast, t_loop, same = [], [], True
    for _ in range(args.rounds):
        seconds, slow_out = _seconds(slow)
        t_loop.append(seconds)
        seconds, fast_out = _seconds(fast)
        t_fast.append(seconds)
        same &= fast_out == slow_out
    ratios = sorted(a / b for a, b in zip(t_loop, t_fast, strict=True))
    abstain = sum(not a for a in fast_out.values()) / len(fast_out)
    print(
        f"questions: {len(ids)}, windows: {len(start)}, length 384, n-best 20, torch threads {args.threads}; "
        f"abstained: {abstain:.0%}; same answers: {same}"
    )
    fast_s, loop_s = statistics.median(t_fast), statistics.median(t_loop)
    print(f"vectorised: {len(ids) / fast_s:10.0f} questions/s (median {fast_s * 1e3:.1f} ms)")
    print(f"loop:       {len(ids) / loop_s:10.0f} questions/s (median {loop_s * 1e3:.1f} ms)")
    print(
        f"speed-up (loop / vectorised): {statistics.median(ratios):.1f}x median over {args.rounds} rounds "
        f"(range {ratios[0]:.1f}–{ratios[-1]:.1f})"
    )
    if not same:
        raise SystemExit("the two post-processors disagree")


if __name__ == "__main__":
    main()
