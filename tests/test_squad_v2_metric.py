"""The SQuAD 2.0 metric on hand-made cases where each official rule matters, and its command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from labelsmooth.data.squad import QAExample
from labelsmooth.metrics.squad_v2 import compute_f1, find_best_threshold, normalize_answer, squad_v2_scores


def test_normalisation_drops_case_punctuation_articles_and_spaces():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("Theatre") == "theatre"  # 'the' only as a word


def test_f1_on_tokens_and_empty_answers():
    assert compute_f1("the big red dog", "red dog barked") == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))
    assert compute_f1("", "") == 1.0 and compute_f1("", "dog") == 0.0 and compute_f1("dog", "") == 0.0


EXAMPLES = [
    QAExample("a", "", "ctx", "q", [("the Eiffel Tower", 0), ("Eiffel Tower in Paris", 0)]),
    QAExample("b", "", "ctx", "q", [("1889", 0)]),
    QAExample("c", "", "ctx", "q", []),
    QAExample("d", "", "ctx", "q", []),
]


def test_scores_by_hand_with_several_golds_and_unanswerables():
    preds = {"a": "Eiffel Tower, Paris", "b": "in 1889", "c": "", "d": "Paris"}
    out = squad_v2_scores(EXAMPLES, preds)
    # a: max(F1 vs 'eiffel tower' = 2·(2/3·1)/(5/3) = 0.8, vs 'eiffel tower in paris' = 2·1·0.75/1.75)
    f1_a = max(0.8, 2 * 1.0 * 0.75 / 1.75)
    f1_b = 2 * 0.5 * 1.0 / 1.5
    assert out["exact"] == pytest.approx(100 * 1 / 4)  # only c is exact
    assert out["f1"] == pytest.approx(100 * (f1_a + f1_b + 1 + 0) / 4)
    assert out["HasAns_total"] == 2 and out["NoAns_total"] == 2
    assert out["HasAns_exact"] == 0.0 and out["NoAns_exact"] == 50.0
    assert list(out)[:3] == ["exact", "f1", "total"]
    assert "best_f1" not in out


def test_no_answer_threshold_and_best_threshold_with_ties():
    preds = {"a": "the eiffel tower", "b": "1890", "c": "", "d": "Paris"}
    na = {"a": 0.2, "b": 0.5, "c": 0.5, "d": 0.9}
    out = squad_v2_scores(EXAMPLES, preds, na, na_prob_thresh=0.5)
    # d abstains (0.9 > 0.5) and is unanswerable: correct; b, c keep their raw scores (0.5 is not > 0.5)
    assert out["exact"] == pytest.approx(100 * (1 + 0 + 1 + 1) / 4)
    # best threshold by the official sweep: start at #no-answer = 2, add in na order a(+1), b(+0), c(0), d(-1)
    assert out["best_exact"] == pytest.approx(75.0) and out["best_exact_thresh"] == 0.2


def test_best_threshold_ties_follow_the_order_of_the_na_prob_file():
    # p answerable and right, q unanswerable but answered; equal na_prob: the official stable sort decides
    preds, scores, has = {"p": "x", "q": "y"}, {"p": 1, "q": 0}, {"p": True, "q": False}
    assert find_best_threshold(preds, scores, {"p": 0.5, "q": 0.5}, has) == (100.0, 0.5)
    assert find_best_threshold(preds, scores, {"q": 0.5, "p": 0.5}, has) == (50.0, 0.0)


def test_command_line_prints_the_official_json(tmp_path):
    data = {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": "Paris is big.",
                        "qas": [
                            {
                                "id": "1",
                                "question": "Where?",
                                "answers": [{"text": "Paris", "answer_start": 0}],
                            },
                            {"id": "2", "question": "Who?", "answers": [], "is_impossible": True},
                            {"id": "3", "question": "What?", "answers": [{"text": "big", "answer_start": 9}]},
                        ],
                    }
                ],
            }
        ]
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "pred.json").write_text(json.dumps({"1": "paris", "2": "", "3": "small"}))
    (tmp_path / "na.json").write_text(json.dumps({"1": 0.1, "2": 0.8, "3": 0.6}))
    cmd = [
        sys.executable,
        "-m",
        "labelsmooth.metrics.squad_v2",
        "data.json",
        "pred.json",
        "--na-prob-file",
        "na.json",
    ]
    out = json.loads(subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=True).stdout)
    assert out["exact"] == pytest.approx(200 / 3) and out["total"] == 3
    assert out["HasAns_exact"] == 50.0 and out["NoAns_exact"] == 100.0
    # sweep: 1 no-answer; +1 (q1) → 2 at 0.1; q3 (0.6) +0; q2 (0.8) +0 → best 2/3 at 0.1
    assert out["best_exact"] == pytest.approx(200 / 3) and out["best_exact_thresh"] == 0.1


def test_a_missing_prediction_is_reported_like_the_official_script(capsys):
    out = squad_v2_scores(EXAMPLES, {"a": "eiffel tower", "c": "", "d": ""})
    assert "Missing prediction for b" in capsys.readouterr().out
    assert out["total"] == 3
