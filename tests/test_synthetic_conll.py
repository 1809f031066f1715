"""The synthetic CoNLL generator: determinism, and the phenomena that make it a task."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from labelsmooth.data.conll import iob1_to_iob2, read_conll
from labelsmooth.data.conll_lexicon import AMBIGUOUS_NAMES
from labelsmooth.data.synthetic_conll import generate_conll, write_conll_file
from labelsmooth.metrics.conlleval import count_sequences

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def entities(sentences) -> list[tuple[str, str]]:
    """(surface, type) of every entity, from the IOB1 tags."""
    out = []
    for s in sentences:
        tags = iob1_to_iob2(s.tags)
        start = None
        for i, tag in enumerate([*tags, "O"]):
            if start is not None and not tag.startswith("I-"):
                out.append((" ".join(s.tokens[start:i]), tags[start][2:]))
                start = None
            if tag.startswith("B-"):
                start = i
    return out


@pytest.fixture(scope="module")
def train():
    return generate_conll(400, seed=0, split="train")


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    paths = [tmp_path / name for name in ("a", "b", "c")]
    write_conll_file(paths[0], generate_conll(50, seed=7))
    write_conll_file(paths[1], generate_conll(50, seed=7))
    write_conll_file(paths[2], generate_conll(50, seed=8))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    assert generate_conll(20, 7, split="val") != generate_conll(20, 7, split="test")


def test_file_is_two_column_conll_with_docstart(tmp_path: Path) -> None:
    path = tmp_path / "eng.train"
    sentences = generate_conll(25, seed=1)
    write_conll_file(path, sentences, doc_size=10)
    lines = path.read_text().splitlines()
    assert lines[:3] == ["-DOCSTART- O", "", f"{sentences[0].tokens[0]} {sentences[0].tags[0]}"]
    assert sum(line.startswith("-DOCSTART-") for line in lines) == 3
    assert all(len(line.split(" ")) == 2 for line in lines if line)
    read = read_conll(path, LABELS, columns=2)
    assert [s.tokens for s in read] == [s.tokens for s in sentences]
    assert [s.tags for s in read] == [iob1_to_iob2(s.tags) for s in sentences]


def test_ambiguous_names_occur_with_several_types(train) -> None:
    kinds = defaultdict(set)
    for surface, kind in entities(train):
        if surface in AMBIGUOUS_NAMES:
            kinds[surface].add(kind)
    multi = [name for name, k in kinds.items() if len(k) >= 2]
    assert len(multi) >= 5, dict(kinds)


def test_no_ambiguous_names_without_ambiguity() -> None:
    found = {s for s, _ in entities(generate_conll(300, seed=0, ambiguity=0.0))}
    assert not found & AMBIGUOUS_NAMES


def test_multiword_entities_and_iob1_b_tags(train) -> None:
    ents = entities(train)
    assert sum(" " in surface for surface, _ in ents) > 0.2 * len(ents)
    assert any(t.startswith("B-") for s in train for t in s.tags)  # adjacent same-type entities
    assert all(
        not t.startswith("B-") or s.tags[i - 1][2:] == t[2:] for s in train for i, t in enumerate(s.tags)
    )
    assert {kind for _, kind in ents} == {"PER", "ORG", "LOC", "MISC"}


def test_test_split_has_names_unseen_in_train(train) -> None:
    seen = {tok for s in train for tok in s.tokens}
    test = generate_conll(200, seed=0, split="test")
    unseen = [
        tok for s in test for tok, tag in zip(s.tokens, s.tags, strict=True) if tag != "O" and tok not in seen
    ]
    assert len(unseen) > 20


def test_distractor_words_are_o_and_also_names(train) -> None:
    as_o = {t.lower() for s in train for t, g in zip(s.tokens, s.tags, strict=True) if g == "O"}
    as_name = {t.lower() for s in train for t, g in zip(s.tokens, s.tags, strict=True) if g != "O"}
    assert len(as_o & as_name) >= 5  # an uncased model needs the context for these


def test_neutral_templates_cap_a_type_memoriser() -> None:
    """With full cue dropout and ambiguity, a word→type lookup fitted on train must err on test."""
    knobs = {"ambiguity": 1.0, "cue_dropout": 1.0, "unseen_names": 0.0, "distractors": 0.0}
    train = generate_conll(300, seed=0, **knobs)
    test = generate_conll(200, seed=0, split="test", **knobs)
    votes = defaultdict(lambda: defaultdict(int))
    for s in train:
        for tok, tag in zip(s.tokens, s.tags, strict=True):
            votes[tok][tag[2:] or "O"] += 1
    gold = [iob1_to_iob2(s.tags) for s in test]
    pred = []
    for s in test:
        best = [max(votes[t], key=votes[t].get) if t in votes else "O" for t in s.tokens]
        pred.append(["O" if k == "O" else f"I-{k}" for k in best])
    f1 = count_sequences(gold, pred).scores()[2]
    assert 20.0 < f1 < 80.0


def test_bad_split_and_knob_are_errors() -> None:
    with pytest.raises(ValueError, match="split='dev'"):
        generate_conll(1, 0, split="dev")
    with pytest.raises(ValueError, match=r"data.ambiguity=-0.1: expected a value in \[0, 1\]"):
        generate_conll(1, 0, ambiguity=-0.1)
