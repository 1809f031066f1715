"""Per-item test scores (scores_<split>.json, calibration_<split>.json): aggregated over all items they give
the run's own metrics — against seqeval and the SQuAD 2.0 metric here, against metrics.json on real runs."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_NER, read_metrics, run_entry
from hypothesis import given, settings
from hypothesis import strategies as st

from labelsmooth.analysis.stats.items import value
from labelsmooth.analysis.test_items import read_items
from labelsmooth.data.squad import QAExample
from labelsmooth.metrics.conlleval import f1_from_counts, ner_scores, sentence_counts
from labelsmooth.metrics.squad_v2 import question_scores, squad_v2_scores

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
sentence = st.lists(st.sampled_from(TAGS), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(sentence, st.randoms()), min_size=1, max_size=6))
def test_sentence_counts_sum_to_seqeval_micro_f1(pairs):
    # Predictions perturb the gold tags, ill-formed I- after O included (seqeval starts an entity there).
    gold = [g for g, _ in pairs]
    pred = [[rnd.choice(TAGS) if rnd.random() < 0.3 else t for t in g] for g, rnd in pairs]
    counts = sentence_counts(gold, pred)
    total = {k: sum(v) for k, v in counts.items()}
    # The same float, bit for bit: the same totals through seqeval's arithmetic.
    assert f1_from_counts(total["tp"], total["predicted"], total["gold"]) == ner_scores(gold, pred)["f1"]
    assert len(counts["tp"]) == len(gold) and all(
        t <= min(p, g) for t, p, g in zip(*counts.values(), strict=True)
    )


EXAMPLES = [
    QAExample("a", "", "ctx", "q", [("the Eiffel Tower", 0), ("Eiffel Tower in Paris", 0)]),
    QAExample("b", "", "ctx", "q", [("1889", 0)]),
    QAExample("c", "", "ctx", "q", []),
    QAExample("d", "", "ctx", "q", []),
    QAExample("e", "", "ctx", "q", [("red dog", 0)]),
]


@pytest.mark.parametrize("threshold", [1.0, 0.5, 0.0])
def test_question_scores_average_to_the_official_numbers(threshold):
    predictions = {"a": "Eiffel Tower, Paris", "b": "in 1889", "c": "", "d": "Paris", "e": "the red cat"}
    na_probs = {"a": 0.1, "b": 0.7, "c": 0.9, "d": 0.2, "e": 0.6}
    official = squad_v2_scores(EXAMPLES, predictions, na_probs, threshold)
    items = question_scores(EXAMPLES, predictions, na_probs, threshold)
    assert items["id"] == ["a", "b", "c", "d", "e"] and items["has_ans"] == [True, True, False, False, True]
    for key in ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"):
        assert value("question", key, items) == pytest.approx(official[key], abs=1e-12), key


def _check_items_against_metrics(run, metrics_to_check):
    metrics = read_metrics(run)
    items = read_items(run)
    assert items is not None, f"{run} has no scores_test.json"
    for metric in metrics_to_check:
        assert value(items.unit, metric, items.columns) == pytest.approx(metrics[metric], abs=1e-9), metric
    return items, metrics


@pytest.mark.slow
def test_ner_run_writes_sentence_counts_that_give_its_f1(tmp_path):
    run = tmp_path / "ner"
    run_entry([*TINY_NER, "logger=none", f"hydra.run.dir={run}"], cwd=tmp_path)
    items, metrics = _check_items_against_metrics(run, ["test/f1"])
    assert items.unit == "sentence" and len(items.columns["tp"]) == 16  # data.n_test
    val = json.loads((run / "scores_val.json").read_text())
    assert value("sentence", "f1", {k: val[k] for k in ("tp", "predicted", "gold")}) == pytest.approx(
        metrics["val/f1"], abs=1e-9
    )


@pytest.mark.slow
def test_qa_run_writes_question_scores_that_give_its_exact_and_f1(tmp_path):
    run = tmp_path / "qa"
    tiny = ["task=qa", "model=tiny", "data.n_paragraphs_train=4", "data.n_paragraphs_val=2"]
    tiny += ["data.n_paragraphs_test=3", "trainer.max_epochs=1", "logger=none", f"hydra.run.dir={run}"]
    run_entry(tiny, cwd=tmp_path)
    keys = [
        "test/exact",
        "test/f1",
        "test/HasAns_f1",
        "test/NoAns_f1",
        "test/HasAns_exact",
        "test/NoAns_exact",
    ]
    items, metrics = _check_items_against_metrics(run, [k for k in keys if k in read_metrics(run)])
    assert items.unit == "question" and len(items.columns["id"]) == metrics["test/total"]


@pytest.mark.slow
def test_image_run_with_temperature_scaling_writes_what_ece_before_and_after_needs(tmp_path):
    run = tmp_path / "image"
    args = [
        "task=image",
        "calibration=temperature",
        "trainer.max_epochs=2",
        "logger=none",
        f"hydra.run.dir={run}",
    ]
    run_entry(args, cwd=tmp_path)
    items, metrics = _check_items_against_metrics(
        run,
        ["test/accuracy", "test/error", "test/ece", "test/ece_ts", "test/example/ece_ts"]
        + ["test/example/aurc", "test/example/aurc_pnorm"],
    )
    calibration = json.loads((run / "calibration_test_ts.json").read_text())
    assert calibration["fitted"]["temperature"] == pytest.approx(metrics["test/temperature"])
    assert items.unit == "image" and len(items.columns["correct"]) == 359  # the digits test split
