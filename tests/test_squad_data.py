"""SQuAD 2.0 reading: structure errors name the JSON path, a wrong answer_start names the question."""

from __future__ import annotations

import json

import pytest

from labelsmooth.data.squad import SquadSynthetic, parse_squad, read_squad
from labelsmooth.data.synthetic_squad import generate_squad

GOOD = {
    "data": [
        {
            "title": "t",
            "paragraphs": [
                {
                    "context": "Paris is big.",
                    "qas": [
                        {"id": "q1", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 0}]}
                    ],
                }
            ],
        }
    ]
}


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({}, "top level: missing key 'data'"),
        ({"data": [{"title": "t"}]}, "data[0]: missing key 'paragraphs'"),
        ({"data": [{"paragraphs": [{"context": "c"}]}]}, "data[0].paragraphs[0]: missing key 'qas'"),
    ],
)
def test_missing_structure_names_the_json_path(tmp_path, broken, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=f"{path}: .*{message}".replace("[", r"\[").replace("]", r"\]")):
        read_squad(path)


def test_answer_start_must_match_the_context():
    bad = json.loads(json.dumps(GOOD))
    bad["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 3
    with pytest.raises(ValueError, match="question q1: answer 'Paris' not found at answer_start 3"):
        parse_squad(bad, "dev.json")
    assert parse_squad(GOOD)[0].answers == [("Paris", 0)]


def test_generator_is_deterministic_and_unanswerables_name_paragraph_entities(tmp_path):
    a, b = generate_squad(30, 1, 0.4, 0.5), generate_squad(30, 1, 0.4, 0.5)
    assert a == b and a != generate_squad(30, 2, 0.4, 0.5)
    examples = parse_squad(a)  # every answer_start checked against its context
    impossible = [e for e in examples if e.is_impossible]
    assert 0.15 < len(impossible) / len(examples) < 0.6
    for e in impossible:
        # the question's named entity (its capitalised words after the first) is in its own paragraph
        name = " ".join(w.rstrip("?") for w in e.question.split()[1:] if w[0].isupper())
        assert name and name in e.context, e.question
    assert any(len(e.answers) > 1 for e in examples)


def test_synthetic_source_writes_once_and_reads_back(tmp_path):
    source = SquadSynthetic(str(tmp_path), 5, 2, 2, 0, 0.4, 0.5)
    splits = source.load()
    stamp = (tmp_path / "train.json").stat().st_mtime_ns
    assert {k: len(v) > 0 for k, v in source.load().items()} == {"train": True, "val": True, "test": True}
    assert (tmp_path / "train.json").stat().st_mtime_ns == stamp
    assert [e.id for e in splits["val"]] != [e.id for e in splits["train"]] or splits["val"][
        0
    ].context != splits["train"][0].context
