"""Calibration levels: an entity's confidence and correctness, the names each level reports, and the
weighted AURC of the claims engine equal to metrics/selective.py's on repeated items."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelsmooth.analysis.stats.items import item_metric
from labelsmooth.metrics.levels import (
    BinaryLevel,
    ClassLevel,
    entity_level,
    estimate,
    estimator_names,
    level_metrics,
)
from labelsmooth.metrics.selective import selective_areas


def test_entity_confidence_is_the_product_of_its_word_tag_probabilities_and_right_on_exact_match():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [
        ["B-PER", "I-PER", "O", "B-ORG"],
        ["I-ORG", "I-ORG"],
    ]  # an I- after O starts an entity (conlleval)
    p = torch.tensor([0.9, 0.8, 0.99, 0.6, 0.7, 0.5], dtype=torch.float64)
    score = torch.tensor([0.3, 0.2, 0.9, 0.4, 0.5, 0.1], dtype=torch.float64)
    level = entity_level(gold, pred, p.log(), score)
    # Entities in reading order: PER (0-1) right, ORG at word 3 wrong (gold LOC), ORG (words 0-1) wrong span.
    assert level.confidence.tolist() == pytest.approx([0.9 * 0.8, 0.6, 0.7 * 0.5])
    assert level.correct.tolist() == [True, False, False]
    assert level.rank.tolist() == [0.2, 0.4, 0.1]  # the least sure word
    assert level.group.tolist() == [0, 0, 1]


def test_entity_level_refuses_misaligned_words():
    with pytest.raises(ValueError, match="3 words, 2 confidences"):
        entity_level([["O", "B-PER", "O"]], [["O", "B-PER", "O"]], torch.zeros(2), torch.zeros(2))


def test_each_level_reports_its_names_in_order():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(50, 4, generator=g), torch.randint(0, 4, (50,), generator=g)
    classes = estimate(ClassLevel(logits, labels))
    assert list(classes) == estimator_names("classes")
    assert "ece_classwise" in classes and "aurc_pnorm" in classes
    binary = estimate(BinaryLevel(torch.rand(50, generator=g, dtype=torch.float64), labels == 0))
    assert list(binary) == estimator_names("binary")
    assert "ece_classwise" not in binary
    empty = BinaryLevel(torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.bool))
    assert level_metrics({"entity": empty}) == {}  # no predicted entity: nothing reported, no error
    names = level_metrics({"example": ClassLevel(logits, labels)}, "_ts")
    assert all(k.startswith("example/") and k.endswith("_ts") for k in names)


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9, 1.0]), min_size=1, max_size=25),
    data=st.data(),
)
def test_weighted_aurc_equals_the_run_metric_on_repeated_items(scores, data):
    n = len(scores)
    correct = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    weights = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n).filter(lambda w: sum(w) > 0))
    cols = {"confidence": np.array(scores)[:, None], "correct": np.array(correct, dtype=float)[:, None]}
    repeated = np.repeat(np.arange(n), weights)
    expected = selective_areas(torch.tensor(scores)[repeated], torch.tensor(correct)[repeated])
    w = np.array(weights, dtype=float)[None, :]
    got = (item_metric("image", "aurc")(cols, w)[0, 0], item_metric("image", "augrc")(cols, w)[0, 0])
    assert got == pytest.approx(expected, abs=1e-12)
    assert not math.isnan(got[0])
