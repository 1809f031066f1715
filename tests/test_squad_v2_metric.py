"""The SQuAD 2.0 metric on hand-made cases where each official rule matters, and its command line.

tests/fixtures/squad/eval-official.json is what the official evaluate-v2.0.py semantics print for the
dev-mini / pred-mini / na-prob-mini fixtures (from a transcription of that script, kept out of the repo);
the hand computations below explain its numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labelsmooth.data.squad import QAExample
from labelsmooth.metrics.squad_v2 import (
    compute_exact,
    compute_f1,
    find_best_threshold,
    main,
    normalize_answer,
    squad_v2_scores,
)

FIXTURES = Path(__file__).parent / "fixtures" / "squad"


def test_normalisation_drops_case_punctuation_articles_and_spaces():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("Theatre") == "theatre"  # 'the' only as a whole word
    assert normalize_answer("4,200 people") == "4200 people"
    assert normalize_answer(" A ") == ""
    # punctuation goes before articles: "the-end" -> "theend", which keeps its "the"
    assert normalize_answer("the-end") == "theend"


def test_exact_and_f1_on_tokens_and_empty_answers():
    assert compute_exact("The Eiffel Tower", "eiffel tower.") == 1
    assert compute_f1("the big red dog", "red dog barked") == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))
    assert compute_f1("a a b", "a b b") == pytest.approx(2 / 3)  # token counts are clipped
    assert compute_f1("", "") == 1 and compute_f1("", "dog") == 0 and compute_f1("dog", "") == 0
    assert compute_f1("the", "") == 1  # a gold of only an article is empty after normalisation


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
    assert out["exact"] == pytest.approx(100 * 1 / 4)  # only c (unanswerable, empty prediction) is exact
    assert out["f1"] == pytest.approx(100 * (f1_a + f1_b + 1 + 0) / 4)
    assert out["HasAns_total"] == 2 and out["NoAns_total"] == 2
    assert out["HasAns_exact"] == 0.0 and out["NoAns_exact"] == 50.0 and out["NoAns_f1"] == 50.0
    assert list(out) == [
        "exact",
        "f1",
        "total",
        "HasAns_exact",
        "HasAns_f1",
        "HasAns_total",
        "NoAns_exact",
        "NoAns_f1",
        "NoAns_total",
    ]


def test_noans_keys_only_when_there_are_unanswerable_questions():
    out = squad_v2_scores(EXAMPLES[:2], {"a": "eiffel tower", "b": "1889"})
    assert out["exact"] == 100.0 and "HasAns_exact" in out and "NoAns_exact" not in out


def test_a_gold_of_only_an_article_counts_as_answerable_with_gold_empty():
    examples = [QAExample("x", "", "the", "q", [("the", 0)]), QAExample("y", "", "c", "q", [])]
    out = squad_v2_scores(examples, {"x": "", "y": ""})
    assert out["HasAns_total"] == 1 and out["HasAns_exact"] == 100.0  # has_ans from the answers list


def test_no_answer_threshold_and_best_threshold():
    preds = {"a": "the eiffel tower", "b": "1890", "c": "", "d": "Paris"}
    na = {"a": 0.2, "b": 0.5, "c": 0.5, "d": 0.9}
    out = squad_v2_scores(EXAMPLES, preds, na, na_prob_thresh=0.5)
    # d abstains (0.9 > 0.5) and is unanswerable: correct; b, c keep their raw scores (0.5 is not > 0.5)
    assert out["exact"] == pytest.approx(100 * (1 + 0 + 1 + 1) / 4)
    # sweep: start at #no-answer = 2, then by na_prob: a +1 → 3 (best, 0.2), b +0, c +0, d -1
    assert out["best_exact"] == pytest.approx(75.0) and out["best_exact_thresh"] == 0.2
    assert list(out)[-4:] == ["best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"]
    # without an na-prob file there is no sweep, and the default threshold 1.0 keeps every raw score
    assert "best_f1" not in squad_v2_scores(EXAMPLES, preds)


def test_best_threshold_ties_follow_the_order_of_the_na_prob_keys():
    # p answerable and right, q unanswerable but answered, same na_prob: the stable sort decides
    preds, scores, has = {"p": "x", "q": "y"}, {"p": 1, "q": 0}, {"p": True, "q": False}
    assert find_best_threshold(preds, scores, {"p": 0.5, "q": 0.5}, has) == (100.0, 0.5)
    assert find_best_threshold(preds, scores, {"q": 0.5, "p": 0.5}, has) == (50.0, 0.0)
    # an unanswerable question answered with white space still costs 1 (the official truthiness test)
    assert find_best_threshold({"p": "x", "q": " "}, scores, {"q": 0.1, "p": 0.5}, has) == (50.0, 0.0)


def test_fixture_matches_the_official_output_and_hand_numbers():
    out = squad_v2_scores(
        FIXTURES / "dev-mini.json",
        json.loads((FIXTURES / "pred-mini.json").read_text()),
        json.loads((FIXTURES / "na-prob-mini.json").read_text()),
    )
    # exact: e1 ('eiffel tower!'), e3 ('' for no answer), h1 ('4200 people'), h5 (gold 'a' -> '') = 4 / 10
    assert out["exact"] == 40.0 and out["HasAns_total"] == 7 and out["NoAns_total"] == 3
    # F1: 1 + 2/3 + 1 + 2/3 + 1 + 0 + 2/3 + 2/3 + 1 + 0 over 10
    assert out["f1"] == pytest.approx(100 * (4 + 8 / 3) / 10)
    # best_f1 sweep from 3 (#no-answer): e1 +1, h1 +1, e4 +2/3, then the 0.4 block h2 -1, e2 +2/3, h3 +2/3,
    # h6 -1, then h4 +2/3, h5 +1 -> 6 2/3 at 0.7
    assert out["best_f1"] == pytest.approx(100 * (6 + 2 / 3) / 10) and out["best_f1_thresh"] == 0.7
    assert json.dumps(out, indent=2) == (FIXTURES / "eval-official.json").read_text().rstrip("\n")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "labelsmooth.metrics.squad_v2", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


@pytest.mark.slow
def test_command_line_prints_the_official_json_and_writes_out_file(tmp_path):
    names = ("dev-mini.json", "pred-mini.json", "--na-prob-file", "na-prob-mini.json")
    proc = _cli(*names, cwd=FIXTURES)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (FIXTURES / "eval-official.json").read_text()  # same bytes as the official print
    out_file = tmp_path / "eval.json"
    assert _cli(*names, "-t", "0.35", "--out-file", str(out_file), cwd=FIXTURES).returncode == 0
    written = json.loads(out_file.read_text())
    assert "\n" not in out_file.read_text() and written["total"] == 10
    # threshold 0.35: e3, h2, e2, h3, h6, h4, h5 abstain -> e3, h2, h6 right (+1 each), e1, h1 keep 1 each
    assert written["exact"] == pytest.approx(100 * 5 / 10)


@pytest.mark.slow
def test_a_missing_prediction_is_reported_then_fails_like_the_official_script(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"no answer for 1 of 4 questions \(first: b\)"):
        squad_v2_scores(EXAMPLES, {"a": "eiffel tower", "c": "", "d": ""})
    assert "Missing prediction for b" in capsys.readouterr().out
    (tmp_path / "pred.json").write_text(json.dumps({"e1": "x"}))
    proc = _cli(str(FIXTURES / "dev-mini.json"), "pred.json", cwd=tmp_path)
    assert proc.returncode != 0 and "Missing prediction for e2" in proc.stdout
    assert "no answer for 9 of 10 questions" in proc.stderr
    assert (
        "no such prediction file" in _cli(str(FIXTURES / "dev-mini.json"), "absent.json", cwd=tmp_path).stderr
    )


PREDS = json.loads((FIXTURES / "pred-mini.json").read_text())
NA_PROBS = json.loads((FIXTURES / "na-prob-mini.json").read_text())


def _main_fails(tmp_path, preds=PREDS, na_probs=NA_PROBS) -> str:
    """The one-line error of `main` on these inputs (written as JSON files), checked to be one line."""
    pred_file, na_file = tmp_path / "pred.json", tmp_path / "na.json"
    pred_file.write_text(json.dumps(preds))
    na_file.write_text(json.dumps(na_probs))
    with pytest.raises(SystemExit) as exit_:
        main([str(FIXTURES / "dev-mini.json"), str(pred_file), "--na-prob-file", str(na_file)])
    message = exit_.value.code  # SystemExit(str): Python prints it on stderr and exits with status 1
    assert isinstance(message, str) and "\n" not in message
    return message


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1.7, "1.7"), (-0.3, "-0.3"), (float("nan"), "NaN"), ("0.5", '"0.5"'), (True, "true"), (None, "null")],
)
def test_na_probs_outside_0_1_or_not_numbers_are_rejected(tmp_path, value, shown):
    message = _main_fails(tmp_path, na_probs=NA_PROBS | {"h3": value})
    assert message == f"{tmp_path / 'na.json'}: question h3: na_prob {shown} is not a number in [0, 1]"


def test_na_probs_at_the_bounds_and_as_integers_are_accepted(tmp_path, capsys):
    (tmp_path / "na.json").write_text(json.dumps(NA_PROBS | {"e1": 0, "e3": 1, "h4": 1.0}))
    args = [
        str(FIXTURES / "dev-mini.json"),
        str(FIXTURES / "pred-mini.json"),
        "-n",
        str(tmp_path / "na.json"),
    ]
    assert main(args)["total"] == 10
    assert json.loads(capsys.readouterr().out)["total"] == 10


def test_an_na_prob_file_that_is_not_an_object_is_rejected(tmp_path):
    message = _main_fails(tmp_path, na_probs=[0.1, 0.2])
    assert (
        message
        == f"{tmp_path / 'na.json'}: expected an object of question id -> number in [0, 1], got an array"
    )


@pytest.mark.parametrize(
    ("value", "shown"), [(3, "3 is a number"), (["Paris"], '["Paris"] is an array'), (None, "null is null")]
)
def test_a_prediction_that_is_not_a_string_is_rejected(tmp_path, value, shown):
    message = _main_fails(tmp_path, preds=PREDS | {"e4": value})
    assert (
        message
        == f"{tmp_path / 'pred.json'}: question e4: prediction {shown}; expected a string ('' for no answer)"
    )


def test_a_prediction_file_that_is_a_list_is_rejected(tmp_path):
    message = _main_fails(tmp_path, preds=[["e1", "eiffel tower"]])
    assert (
        message
        == f"{tmp_path / 'pred.json'}: expected an object of question id -> answer string, got an array"
    )


@pytest.mark.slow
def test_command_line_rejects_a_bad_na_prob_with_one_line_and_no_traceback(tmp_path):
    (tmp_path / "na.json").write_text(json.dumps(NA_PROBS | {"e2": 1.7}))
    proc = _cli(
        str(FIXTURES / "dev-mini.json"), str(FIXTURES / "pred-mini.json"), "-n", "na.json", cwd=tmp_path
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == "na.json: question e2: na_prob 1.7 is not a number in [0, 1]\n"
