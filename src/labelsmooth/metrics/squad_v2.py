"""The official SQuAD 2.0 evaluation (same rules, keys and numbers as `evaluate-v2.0.py`), reimplemented.

python -m labelsmooth.metrics.squad_v2 data.json pred.json [--na-prob-file na.json] [--na-prob-thresh T]
    [--out-file eval.json]

Rules mirrored from the official script: answers are normalised (lower case, punctuation and the articles
a/an/the removed, white space collapsed); exact and token F1 take the max over the gold answers, and a
question without gold answers (or whose golds normalise to nothing) has the single gold ''; a question
counts as answerable iff its `answers` list is non-empty; with na_probs, a question whose na_prob exceeds
na_prob_thresh counts as predicted unanswerable; best_* sweep the threshold over the na_probs in sorted
(stable) order. A missing prediction is reported as `Missing prediction for <qid>` and then, where the
official script dies with a KeyError, we raise one clear error. The precision-recall plots of
`--out-image-dir` are not reproduced.

Unlike the official script, the command checks its inputs first: the prediction file must map question
ids to strings and the na-prob file question ids to numbers in [0, 1] (an na_prob of 1.7 or NaN would
silently change `exact`); a violation exits non-zero with one line naming the file and the question.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import string
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from labelsmooth.atomic import write_atomic
from labelsmooth.data.squad import QAExample, parse_squad, read_squad

PUNCTUATION = frozenset(string.punctuation)
ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, drop the articles a/an/the, collapse white space — in that order."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def compute_exact(gold: str, pred: str) -> int:
    """1 if the normalised answers are equal, else 0."""
    return int(normalize_answer(gold) == normalize_answer(pred))


def compute_f1(gold: str, pred: str) -> float:
    """Token F1 of the normalised answers; if either has no tokens, 1 when both have none, else 0."""
    gold_toks, pred_toks = normalize_answer(gold).split(), normalize_answer(pred).split()
    if not gold_toks or not pred_toks:
        return int(gold_toks == pred_toks)  # an int, as the official script returns
    same = sum((collections.Counter(gold_toks) & collections.Counter(pred_toks)).values())
    if same == 0:
        return 0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def make_qid_to_has_ans(examples: Sequence[QAExample]) -> dict[str, bool]:
    """Question id → whether its `answers` list is non-empty (in dataset order)."""
    return {ex.id: bool(ex.answers) for ex in examples}


def raw_scores(
    examples: Sequence[QAExample], predictions: Mapping[str, str], report_missing: Callable = print
) -> tuple[dict[str, int], dict[str, float]]:
    """Exact and F1 per predicted question (dataset order): max over the golds, [''] when there are none."""
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


def apply_no_answer_threshold(
    scores: Mapping[str, float], na_probs: Mapping[str, float], has_ans: Mapping[str, bool], threshold: float
) -> dict[str, float]:
    """A question predicted unanswerable (na_prob > threshold) scores 1.0 iff it has no answer."""
    return {qid: float(not has_ans[qid]) if na_probs[qid] > threshold else s for qid, s in scores.items()}


def make_eval_dict(
    exact: Mapping[str, float], f1: Mapping[str, float], qids: Sequence[str] | None = None
) -> dict[str, float]:
    """exact, f1 (percent) and total over `qids` (all scored questions when None or empty)."""
    if not qids:
        total = len(exact)
        return {
            "exact": 100.0 * sum(exact.values()) / total,
            "f1": 100.0 * sum(f1.values()) / total,
            "total": total,
        }
    total = len(qids)
    return {
        "exact": 100.0 * sum(exact[k] for k in qids) / total,
        "f1": 100.0 * sum(f1[k] for k in qids) / total,
        "total": total,
    }


def question_scores(
    examples: Sequence[QAExample],
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
) -> dict[str, list]:
    """Per question, in dataset order: id, has_ans, and the exact / F1 that the official `exact` / `f1`
    average (after the na-prob threshold), so 100 · mean(exact) is `squad_v2_scores(...)["exact"]`.

    These are the items a bootstrap over test questions resamples; HasAns_* / NoAns_* are their means
    over the questions with / without an answer.
    """
    na_probs = dict(na_probs) if na_probs is not None else {k: 0.0 for k in predictions}
    has_ans = make_qid_to_has_ans(examples)
    exact_raw, f1_raw = raw_scores(examples, predictions, report_missing=lambda line: None)
    exact = apply_no_answer_threshold(exact_raw, na_probs, has_ans, na_prob_thresh)
    f1 = apply_no_answer_threshold(f1_raw, na_probs, has_ans, na_prob_thresh)
    ids = [ex.id for ex in examples if ex.id in exact]
    return {
        "id": ids,
        "has_ans": [has_ans[q] for q in ids],
        "exact": [exact[q] for q in ids],
        "f1": [f1[q] for q in ids],
    }


def find_best_threshold(
    predictions: Mapping[str, str],
    scores: Mapping[str, float],
    na_probs: Mapping[str, float],
    has_ans: Mapping[str, bool],
) -> tuple[float, float]:
    """The official sweep: start from "abstain on all" (= #unanswerable), then, by increasing na_prob
    (a stable sort, so ties keep the na_probs' key order), let each question answer: +score if answerable,
    -1 if unanswerable with a non-empty prediction; keep the first strictly best running total."""
    current = best = sum(1 for k in has_ans if not has_ans[k])
    best_threshold = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_ans[qid]:
            current += scores[qid]
        elif predictions[qid]:
            current += -1
        if current > best:
            best, best_threshold = current, na_probs[qid]
    return 100.0 * best / len(scores), best_threshold


def _examples(dataset: Any) -> list[QAExample]:
    """Examples of a SQuAD JSON dict, a path to one, or a list of QAExample (answer texts are all we use)."""
    if isinstance(dataset, (str, Path)):
        return read_squad(dataset, check_answers=False)
    if isinstance(dataset, dict):
        return parse_squad(dataset, check_answers=False)
    return list(dataset)


def squad_v2_scores(
    dataset: Sequence[QAExample] | dict | str | Path,
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
    report_missing: Callable = print,
) -> dict[str, float]:
    """The official output dict: exact, f1, total, HasAns_*, NoAns_* (when there are such questions) and,
    given na_probs, best_exact(_thresh) and best_f1(_thresh); percentages, keys in the official order."""
    examples = _examples(dataset)
    given = na_probs is not None
    na_probs = dict(na_probs) if given else {k: 0.0 for k in predictions}
    has_ans = make_qid_to_has_ans(examples)
    exact_raw, f1_raw = raw_scores(examples, predictions, report_missing)
    missing = [k for k in has_ans if k not in exact_raw]
    if missing:
        raise ValueError(
            f"predictions: no answer for {len(missing)} of {len(has_ans)} questions (first: {missing[0]}); "
            "the official script stops with a KeyError here"
        )
    no_prob = [k for k in exact_raw if k not in na_probs]
    if no_prob:
        raise ValueError(f"na_probs: no entry for {len(no_prob)} questions (first: {no_prob[0]})")
    exact = apply_no_answer_threshold(exact_raw, na_probs, has_ans, na_prob_thresh)
    f1 = apply_no_answer_threshold(f1_raw, na_probs, has_ans, na_prob_thresh)
    out = make_eval_dict(exact, f1)
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [k for k, v in has_ans.items() if v == wanted]
        if qids:
            out |= {f"{prefix}_{k}": v for k, v in make_eval_dict(exact, f1, qids).items()}
    if given:
        out["best_exact"], out["best_exact_thresh"] = find_best_threshold(
            predictions, exact_raw, na_probs, has_ans
        )
        out["best_f1"], out["best_f1_thresh"] = find_best_threshold(predictions, f1_raw, na_probs, has_ans)
    return out


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _show(value: Any) -> str:
    """A JSON value as it appears in the file, cut short (an error message stays one readable line)."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_predictions(predictions: Any, where: str = "predictions") -> dict[str, str]:
    """`predictions` if it is a JSON object of question id → answer string ('' = no answer); else one line."""
    if not isinstance(predictions, dict):
        raise ValueError(
            f"{where}: expected an object of question id -> answer string, got {_json_type(predictions)}"
        )
    for qid, text in predictions.items():
        if not isinstance(text, str):
            raise ValueError(
                f"{where}: question {qid}: prediction {_show(text)} is {_json_type(text)}; "
                "expected a string ('' for no answer)"
            )
    return predictions


def check_na_probs(na_probs: Any, where: str = "na_probs") -> dict[str, float]:
    """`na_probs` if it is a JSON object of question id → number in [0, 1]; else one line naming the id.

    Booleans are rejected (JSON true is no probability) and so is NaN (it compares false with everything,
    so it would quietly count as "answer").
    """
    if not isinstance(na_probs, dict):
        raise ValueError(
            f"{where}: expected an object of question id -> number in [0, 1], got {_json_type(na_probs)}"
        )
    for qid, prob in na_probs.items():
        is_number = isinstance(prob, (int, float)) and not isinstance(prob, bool)
        if not (is_number and 0.0 <= prob <= 1.0):  # NaN fails the range test
            raise ValueError(f"{where}: question {qid}: na_prob {_show(prob)} is not a number in [0, 1]")
    return na_probs


def _read_json(path: str, what: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise SystemExit(f"{path}: no such {what} file")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SystemExit(f"{path}: not valid JSON ({err})") from err


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """The official command line: print the JSON (indent 2), or write it compact to --out-file."""
    parser = argparse.ArgumentParser(description="Official evaluation script for SQuAD version 2.0.")
    parser.add_argument("data_file", metavar="data.json", help="Input data JSON file.")
    parser.add_argument("pred_file", metavar="pred.json", help="Model predictions.")
    parser.add_argument("--out-file", "-o", metavar="eval.json", help="Write metrics to this file.")
    parser.add_argument("--na-prob-file", "-n", metavar="na_prob.json", help="P(no answer) per question.")
    parser.add_argument(
        "--na-prob-thresh", "-t", type=float, default=1.0, help='Predict "" if P(no answer) exceeds this.'
    )
    args = parser.parse_args(argv)
    dataset = _read_json(args.data_file, "data")
    predictions = _read_json(args.pred_file, "prediction")
    na_probs = _read_json(args.na_prob_file, "na-prob") if args.na_prob_file else None
    try:
        examples = parse_squad(dataset, args.data_file, check_answers=False)
        check_predictions(predictions, args.pred_file)
        if na_probs is not None:
            check_na_probs(na_probs, args.na_prob_file)
        out = squad_v2_scores(examples, predictions, na_probs, args.na_prob_thresh)
    except ValueError as err:
        raise SystemExit(str(err)) from err
    if args.out_file:
        write_atomic(args.out_file, json.dumps(out))
    else:
        print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
