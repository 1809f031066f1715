"""The official SQuAD 2.0 evaluation (same rules, keys and numbers as `evaluate-v2.0.py`), reimplemented.

python -m labelsmooth.metrics.squad_v2 data.json pred.json [--na-prob-file na.json] [--na-prob-thresh T]
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import string
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from labelsmooth.data.squad import QAExample, parse_squad

PUNCTUATION = set(string.punctuation)
ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, drop articles (a, an, the), collapse white space — in that order."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def compute_exact(gold: str, pred: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(pred))


def compute_f1(gold: str, pred: str) -> float:
    """Token F1 of the normalised answers; if either is empty, 1 when both are, else 0."""
    gold_toks, pred_toks = normalize_answer(gold).split(), normalize_answer(pred).split()
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    same = sum((collections.Counter(gold_toks) & collections.Counter(pred_toks)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def raw_scores(
    examples: Sequence[QAExample], predictions: Mapping[str, str], report_missing=print
) -> tuple[dict[str, int], dict[str, float]]:
    """Exact and F1 per answered question: max over the gold answers ([''] when there are none)."""
    exact, f1 = {}, {}
    for ex in examples:
        golds = [text for text, _ in ex.answers if normalize_answer(text)] or [""]
        if ex.id not in predictions:
            report_missing(f"Missing prediction for {ex.id}")
            continue
        pred = predictions[ex.id]
        exact[ex.id] = max(compute_exact(g, pred) for g in golds)
        f1[ex.id] = max(compute_f1(g, pred) for g in golds)
    return exact, f1


def apply_no_answer_threshold(scores, na_probs, has_answer, threshold: float) -> dict[str, float]:
    """A question predicted unanswerable (na_prob > threshold) scores 1 iff it has no answer."""
    return {qid: float(not has_answer[qid]) if na_probs[qid] > threshold else s for qid, s in scores.items()}


def _summary(exact, f1, qids=None) -> dict[str, float]:
    qids = list(exact) if qids is None else qids
    total = len(qids)
    return {
        "exact": 100.0 * sum(exact[k] for k in qids) / total,
        "f1": 100.0 * sum(f1[k] for k in qids) / total,
        "total": total,
    }


def find_best_threshold(predictions, scores, na_probs, has_answer) -> tuple[float, float]:
    """The official sweep: abstain on questions by increasing na_prob (stable for ties), keep the best."""
    current = best = sum(1 for k in has_answer if not has_answer[k])
    best_threshold = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            current += scores[qid]
        else:
            current += -1 if predictions[qid] else 0
        if current > best:
            best, best_threshold = current, na_probs[qid]
    return 100.0 * best / len(scores), best_threshold


def squad_v2_scores(
    examples: Sequence[QAExample] | dict,
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
    report_missing=print,
) -> dict[str, float]:
    """The official output: exact, f1, total, HasAns_*, NoAns_* and, given na_probs, best_*(_thresh)."""
    if isinstance(examples, dict):
        examples = parse_squad(examples)
    given = na_probs is not None
    na_probs = dict(na_probs) if given else {k: 0.0 for k in predictions}
    has_answer = {ex.id: bool(ex.answers) for ex in examples}
    exact_raw, f1_raw = raw_scores(examples, predictions, report_missing)
    exact = apply_no_answer_threshold(exact_raw, na_probs, has_answer, na_prob_thresh)
    f1 = apply_no_answer_threshold(f1_raw, na_probs, has_answer, na_prob_thresh)
    out = _summary(exact, f1)
    # The official script raises a KeyError here for missing predictions; we score the answered ones.
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [k for k, v in has_answer.items() if v == wanted and k in exact]
        if qids:
            out |= {f"{prefix}_{k}": v for k, v in _summary(exact, f1, qids).items()}
    if given:
        out["best_exact"], out["best_exact_thresh"] = find_best_threshold(
            predictions, exact_raw, na_probs, has_answer
        )
        out["best_f1"], out["best_f1_thresh"] = find_best_threshold(predictions, f1_raw, na_probs, has_answer)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Official evaluation script for SQuAD version 2.0.")
    parser.add_argument("data_file")
    parser.add_argument("pred_file")
    parser.add_argument("--out-file", "-o")
    parser.add_argument("--na-prob-file", "-n")
    parser.add_argument("--na-prob-thresh", "-t", type=float, default=1.0)
    args = parser.parse_args(argv)
    examples = parse_squad(json.loads(Path(args.data_file).read_text()), args.data_file)
    predictions = json.loads(Path(args.pred_file).read_text())
    na_probs = json.loads(Path(args.na_prob_file).read_text()) if args.na_prob_file else None
    out = squad_v2_scores(examples, predictions, na_probs, args.na_prob_thresh)
    if args.out_file:
        Path(args.out_file).write_text(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.exit(main())
