"""conlleval reimplementation: pinned report text on hand-made cases, and agreement with seqeval."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import f1_score
from seqeval.metrics.sequence_labeling import get_entities

from labelsmooth.metrics.conlleval import count_chunks, count_sequences, ner_scores, report

FIXTURES = Path(__file__).parent / "fixtures" / "conll"

# Reports of the conlleval perl script (2004-01-26) for the fixture files, spacing included.
EXPECTED = {
    # I- after O starts a chunk; B- between two adjacent LOC chunks; a lone I-ORG after a blank line.
    "report_boundaries.txt": (
        "processed 6 tokens with 3 phrases; found: 3 phrases; correct: 1.\n"
        "accuracy:  50.00%; precision:  33.33%; recall:  33.33%; FB1:  33.33\n"
        "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n"
    ),
    # The type changes inside a chunk: two guessed chunks, neither correct.
    "report_type_change.txt": (
        "processed 3 tokens with 1 phrases; found: 2 phrases; correct: 0.\n"
        "accuracy:  66.67%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n"
        "             MISC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
    ),
    "report_all_o.txt": (
        "processed 2 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"
        "accuracy: 100.00%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n"
    ),
    # -DOCSTART- is an ordinary token for conlleval; a `-X-` line is a boundary and is not counted.
    "report_docstart.txt": (
        "processed 3 tokens with 2 phrases; found: 2 phrases; correct: 1.\n"
        "accuracy:  66.67%; precision:  50.00%; recall:  50.00%; FB1:  50.00\n"
        "              LOC: precision: 100.00%; recall:  50.00%; FB1:  66.67  1\n"
        "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_report_text_matches_conlleval(name: str) -> None:
    with open(FIXTURES / name, encoding="utf-8") as f:
        assert report(count_chunks(f)) == EXPECTED[name]


def test_empty_input_reports_zero_tokens_and_no_accuracy_line() -> None:
    assert report(count_chunks([])) == "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"


def test_counts_of_boundary_case() -> None:
    with open(FIXTURES / "report_boundaries.txt", encoding="utf-8") as f:
        counts = count_chunks(f)
    assert counts.tokens == 6 and counts.correct_tags == 3
    assert dict(counts.found_correct) == {"PER": 1, "LOC": 2}
    assert dict(counts.found_guessed) == {"PER": 1, "LOC": 1, "ORG": 1}
    assert dict(+counts.correct_chunks) == {"PER": 1}


def test_command_reads_stdin(tmp_path: Path) -> None:
    text = (FIXTURES / "report_boundaries.txt").read_text()
    out = subprocess.run(
        [sys.executable, "-m", "labelsmooth.metrics.conlleval"], input=text, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == EXPECTED["report_boundaries.txt"]


def test_feature_count_mismatch_is_an_error_naming_the_line() -> None:
    with pytest.raises(ValueError, match=r"line 2: unexpected number of features: 2 \(3\)"):
        count_chunks(io.StringIO("a O O\nb O\n"))


TYPES = ("PER", "ORG", "LOC", "MISC")


@st.composite
def iob2_sentence(draw) -> list[str]:
    """A valid IOB2 sequence: runs of O and entities of 1-3 tokens (adjacent entities allowed)."""
    tags: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(("O", *TYPES)))
        n = draw(st.integers(1, 3))
        tags += ["O"] * n if kind == "O" else [f"B-{kind}"] + [f"I-{kind}"] * (n - 1)
    return tags


@st.composite
def gold_and_pred(draw) -> tuple[list[list[str]], list[list[str]]]:
    """Valid IOB2 gold; arbitrary B/I/O predictions (IOB1-style and ill-formed ones too)."""
    gold = draw(st.lists(iob2_sentence(), min_size=1, max_size=5).filter(lambda g: any(g)))
    all_tags = ["O", *(f"{p}-{t}" for p in "BI" for t in TYPES)]
    pred = [draw(st.lists(st.sampled_from(all_tags), min_size=len(g), max_size=len(g))) for g in gold]
    return gold, pred


@settings(max_examples=50, deadline=None)
@given(gold_and_pred())
def test_chunk_counts_agree_with_seqeval_default_mode(data) -> None:
    gold, pred = data
    counts = count_sequences(gold, pred)
    gold_entities, pred_entities = set(get_entities(gold)), set(get_entities(pred))
    assert sum(counts.found_correct.values()) == len(gold_entities)
    assert sum(counts.found_guessed.values()) == len(pred_entities)
    assert sum(counts.correct_chunks.values()) == len(gold_entities & pred_entities)
    assert counts.scores()[2] == pytest.approx(ner_scores(gold, pred)["f1"], abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.lists(iob2_sentence(), min_size=1, max_size=5).filter(lambda g: any(g)))
def test_ner_scores_of_a_perfect_prediction(gold) -> None:
    scores = ner_scores(gold, gold)
    has_entities = any(t != "O" for s in gold for t in s)
    assert scores["f1"] == scores["f1_strict"] == (100.0 if has_entities else 0.0)
    assert scores["accuracy"] == 100.0


def test_ner_scores_keys_percent_and_strict_mode() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG"]]
    pred = [["I-PER", "I-PER", "O", "B-LOC"], ["O"]]  # PER starts with I-: lenient accepts it, strict not
    scores = ner_scores(gold, pred, types=["PER", "ORG", "LOC", "MISC"])
    assert scores["precision"] == pytest.approx(100.0)
    assert scores["recall"] == pytest.approx(200 / 3)
    assert scores["f1"] == pytest.approx(80.0)
    assert scores["f1_strict"] == pytest.approx(50.0)  # the I-PER I-PER chunk is not an entity: P 100, R 33
    assert scores["accuracy"] == pytest.approx(60.0)  # B-PER vs I-PER counts as a wrong tag
    assert (scores["f1_PER"], scores["f1_LOC"], scores["f1_ORG"], scores["f1_MISC"]) == (
        100.0,
        100.0,
        0.0,
        0.0,
    )
    assert f1_score(gold, pred) * 100 == pytest.approx(scores["f1"])


def test_ner_scores_rejects_length_mismatch_and_no_tokens() -> None:
    with pytest.raises(ValueError, match="sentence 0 has 2 gold tags but 1 predicted"):
        ner_scores([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="no tokens to score"):
        ner_scores([[]], [[]])
