"""SQuAD 2.0 reading and sources: structure errors name the JSON path, a wrong answer_start names the
question; the synthetic generator is deterministic and its unanswerable questions name paragraph entities."""

from __future__ import annotations

import json
import re
import shutil
import sys
import types
from pathlib import Path

import pytest

from labelsmooth.data.squad import (
    SPLITS,
    SquadFiles,
    SquadHub,
    SquadSynthetic,
    parse_squad,
    read_squad,
    to_squad_json,
)
from labelsmooth.data.synthetic_squad import Knobs, generate_squad

FIXTURES = Path(__file__).parent / "fixtures" / "squad"


def test_reads_the_fixture_with_answers_and_unanswerables():
    examples = read_squad(FIXTURES / "dev-mini.json")
    by_id = {e.id: e for e in examples}
    assert len(examples) == 10 and [e.id for e in examples][:2] == ["e1", "e2"]
    assert by_id["e1"].answers[1] == ("Eiffel Tower", 4) and by_id["e1"].title == "Eiffel_Tower"
    assert by_id["e3"].is_impossible and by_id["e3"].answers == []  # plausible_answers are not answers
    assert not by_id["h5"].is_impossible
    assert parse_squad(to_squad_json(examples)) == examples  # the dict form round-trips


@pytest.mark.parametrize(
    ("broken", "where"),
    [
        ({}, "top level: missing key 'data'"),
        ({"data": [{"title": "t"}]}, "data[0]: missing key 'paragraphs'"),
        ({"data": [{"paragraphs": [{"qas": []}]}]}, "data[0].paragraphs[0]: missing key 'context'"),
        (
            {"data": [{"paragraphs": [{"context": "c", "qas": [{"question": "q?", "answers": []}]}]}]},
            "data[0].paragraphs[0].qas[0]: missing key 'id'",
        ),
        (
            {"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q9", "question": "q?"}]}]}]},
            "data[0].paragraphs[0].qas[0] (question q9): missing key 'answers'",
        ),
        (
            {"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q9", "answers": []}]}]}]},
            "(question q9): missing key 'question'",
        ),
        (
            {
                "data": [
                    {
                        "paragraphs": [
                            {"context": "c", "qas": [{"id": "q9", "question": "?", "answers": [{}]}]}
                        ]
                    }
                ]
            },
            "(question q9).answers[0]: missing key 'text'",
        ),
        (
            {
                "data": [
                    {
                        "paragraphs": [
                            {
                                "context": "c",
                                "qas": [
                                    {
                                        "id": "q9",
                                        "question": "?",
                                        "answers": [{"text": "c", "answer_start": "0"}],
                                    }
                                ],
                            }
                        ]
                    }
                ]
            },  # noqa: E501
            "(question q9).answers[0]: 'answer_start' is str; expected int",
        ),
        ({"data": {"paragraphs": []}}, "top level: 'data' is dict; expected list"),
    ],
)
def test_broken_structure_names_the_file_and_json_path(tmp_path, broken, where):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=re.escape(f"{path}: ") + r".*" + re.escape(where)):
        read_squad(path)


def test_missing_qas_in_a_file_names_its_path():
    path = FIXTURES / "missing-qas.json"
    with pytest.raises(ValueError) as err:
        read_squad(path)
    assert str(err.value) == f"{path}: data[1].paragraphs[0]: missing key 'qas'"


def test_answer_start_must_point_at_the_answer_text():
    path = FIXTURES / "bad-answer-start.json"
    with pytest.raises(ValueError) as err:
        read_squad(path)
    assert str(err.value) == (
        f"{path}: question t1: answer 'Rosa Quist' not found at answer_start 27 of the context "
        "(found 'in Lyon.')"
    )
    # the metric reads answer texts only, so it does not insist on offsets
    assert read_squad(path, check_answers=False)[0].answers == [("Rosa Quist", 27)]


def test_duplicate_ids_inconsistent_is_impossible_and_missing_files_are_errors(tmp_path):
    data = json.loads((FIXTURES / "train-mini.json").read_text())
    qas = data["data"][0]["paragraphs"][0]["qas"]
    duplicate = {"data": [{"paragraphs": [{"context": "c", "qas": [qas[1], qas[1]]}]}]}
    with pytest.raises(ValueError, match=r"qas\[1\] \(question t2\): duplicate question id"):
        parse_squad(duplicate)
    qas[1]["is_impossible"] = False
    with pytest.raises(ValueError, match="question t2: is_impossible=False but it has no answers"):
        parse_squad(data, "train.json")
    with pytest.raises(FileNotFoundError, match="nope.json: no such SQuAD file"):
        read_squad(tmp_path / "nope.json")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(ValueError, match="junk.json: not valid JSON"):
        read_squad(tmp_path / "junk.json")


@pytest.mark.parametrize("question", ["", "  \t\n"])
def test_an_empty_question_is_refused_naming_the_file_and_question_id(tmp_path, question):
    data = json.loads((FIXTURES / "train-mini.json").read_text())
    qa = data["data"][0]["paragraphs"][0]["qas"][1]
    qa["question"] = question  # was trained on and scored like any other question
    path = tmp_path / "train.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError) as err:
        read_squad(path)
    assert str(err.value) == f"{path}: question {qa['id']}: the question is empty; expected its text"


def test_files_source_uses_dev_as_test_and_names_a_missing_file(tmp_path):
    shutil.copy(FIXTURES / "train-mini.json", tmp_path / "train-v2.0.json")
    shutil.copy(FIXTURES / "dev-mini.json", tmp_path / "dev-v2.0.json")
    source = SquadFiles(str(tmp_path))
    splits = source.load()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [2, 10, 10]
    assert source.test_is_val and splits["test"] == splits["val"]
    assert source.official("test") == tmp_path / "dev-v2.0.json"
    with pytest.raises(FileNotFoundError, match=r"data.train_file=train.json: no such file in "):
        SquadFiles(str(tmp_path), train_file="train.json")
    with pytest.raises(FileNotFoundError, match="data.dir="):
        SquadFiles(str(tmp_path / "absent"))


def test_generator_is_deterministic():
    a = generate_squad(20, seed=1, unanswerable=0.4, distractors=0.5, filler=3, coreference=0.3)
    assert a == generate_squad(20, seed=1, unanswerable=0.4, distractors=0.5, filler=3, coreference=0.3)
    assert a != generate_squad(20, seed=2, unanswerable=0.4, distractors=0.5, filler=3, coreference=0.3)
    assert json.dumps(a) == json.dumps(generate_squad(20, 1, 0.4, 0.5, 3, 0.3))  # same key order too


NAME = re.compile(r"[A-Z][a-z]+ [A-Z][a-z]+")  # a firm ("Helix Labs") or a person ("Rosa Quist")


def test_generated_questions_are_valid_mixed_and_unanswerables_name_paragraph_entities():
    data = generate_squad(60, seed=0)
    examples = parse_squad(data)  # every answer_start checked against its context
    impossible = [e for e in examples if e.is_impossible]
    assert 0.2 < len(impossible) / len(examples) < 0.6
    for e in impossible:
        names = NAME.findall(e.question)
        assert names and all(n in e.context for n in names), (e.question, e.context)
    assert sum(len(e.answers) > 1 for e in examples) / len(examples) > 0.15  # variants, second mentions
    assert {len(e.answers) for e in examples} >= {0, 1, 2}
    # paragraphs long enough that some need two windows at max_length 128-192, short enough to stay cheap
    words = sorted(len(a["paragraphs"][0]["context"].split()) for a in data["data"])
    assert 60 <= words[len(words) // 2] <= 200 and words[-1] <= 260


def test_knobs_move_the_data_the_way_they_say():
    def share_impossible(u):
        examples = parse_squad(generate_squad(40, 0, unanswerable=u))
        return sum(e.is_impossible for e in examples) / len(examples)

    assert share_impossible(0.0) < 0.15 < share_impossible(0.35) < share_impossible(0.7)

    def mean_words(**knobs):
        data = generate_squad(40, 0, **knobs)
        return sum(len(a["paragraphs"][0]["context"].split()) for a in data["data"]) / 40

    assert mean_words(filler=0, distractors=0.0) < mean_words(filler=3, distractors=0.0)
    assert mean_words(distractors=0.0) < mean_words(distractors=1.0)
    no_coref = generate_squad(30, 0, coreference=0.0)
    assert "It " not in json.dumps(no_coref) and "It " in json.dumps(generate_squad(30, 0, coreference=1.0))


def test_synthetic_source_caches_by_parameters_and_reads_back(tmp_path):
    source = SquadSynthetic(str(tmp_path), 5, 2, 2, seed=0)
    splits = source.load()
    folder = source.prepare()
    assert folder.parent == tmp_path
    assert [source.official(s) for s in ("train", "val", "test")] == [folder / f"{s}.json" for s in SPLITS]
    assert json.loads((folder / "params.json").read_text()) == source.params()
    # each split is generate_squad's draw with its own seed, byte for byte
    assert source.official("val").read_text() == json.dumps(generate_squad(2, 1))
    stamp = (folder / "train.json").stat().st_mtime_ns
    assert SquadSynthetic(str(tmp_path), 5, 2, 2, seed=0).load() == splits
    assert (folder / "train.json").stat().st_mtime_ns == stamp  # cached: not rewritten
    assert {e.context for e in splits["test"]}.isdisjoint(e.context for e in splits["train"])  # held out
    harder = SquadSynthetic(str(tmp_path), 5, 2, 2, seed=0, unanswerable=0.6)
    assert harder.load()["train"] != splits["train"]
    assert harder.prepare() != folder and source.official("train").is_file()  # both kept
    assert json.loads((harder.prepare() / "params.json").read_text())["unanswerable"] == 0.6
    with pytest.raises(ValueError, match=r"data.unanswerable=1.5: expected a value in \[0, 1\]"):
        SquadSynthetic(str(tmp_path), 5, 2, 2, seed=0, unanswerable=1.5)
    with pytest.raises(ValueError, match="data.filler=-1: expected a count >= 0"):
        SquadSynthetic(str(tmp_path), 5, 2, 2, seed=0, filler=-1)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("n", [0, -1])
def test_synthetic_source_needs_a_paragraph_per_split(tmp_path, split, n):
    sizes = {f"n_paragraphs_{s}": n if s == split else 2 for s in SPLITS}
    with pytest.raises(ValueError) as err:
        SquadSynthetic(str(tmp_path), seed=0, **sizes)
    assert str(err.value) == f"data.n_paragraphs_{split}={n}: expected at least 1"


def test_knob_defaults_are_those_of_the_generator_and_the_source():
    knobs = Knobs()
    assert generate_squad(3, 0) == generate_squad(3, 0, **knobs.as_dict())
    assert SquadSynthetic("unused", 1, 1, 1, 0).knobs == knobs


@pytest.mark.parametrize(
    "dataset",
    [
        {"version": "v2.0", "data": []},
        {"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": []}]}]},
    ],
)
def test_a_file_without_questions_is_an_error_naming_it(tmp_path, dataset):
    path = tmp_path / "dev-v2.0.json"
    path.write_text(json.dumps(dataset))
    with pytest.raises(ValueError) as err:
        read_squad(path)
    assert str(err.value) == f"{path}: no questions (expected at least one entry in data[].paragraphs[].qas)"


def test_hub_source_converts_rows_and_validates_them(monkeypatch):
    """The hub loader on a stand-in `datasets` module (no network): rows become validated examples."""
    context = "Rosa Quist runs Helix Labs."
    rows = {
        "id": ["h1", "h2"],
        "title": ["Helix", "Helix"],
        "context": [context, context],
        "question": ["Who runs Helix Labs?", "Who founded Helix Labs?"],
        "answers": [{"text": ["Rosa Quist"], "answer_start": [0]}, {"text": [], "answer_start": []}],
    }
    fake = types.ModuleType("datasets")
    calls = []
    fake.load_dataset = lambda name: calls.append(name) or {"train": rows, "validation": rows}
    monkeypatch.setitem(sys.modules, "datasets", fake)
    source = SquadHub()
    source.prepare()  # the download step
    assert calls == ["rajpurkar/squad_v2"]
    splits = source.load()
    assert [e.answers for e in splits["val"]] == [[("Rosa Quist", 0)], []] and splits["test"] == splits["val"]
    assert len(source.official("test")["data"][0]["paragraphs"]) == 1  # one paragraph, two questions
    rows["answers"][0]["answer_start"] = [5]
    with pytest.raises(ValueError, match=r"rajpurkar/squad_v2\[train\]: question h1: answer 'Rosa Quist'"):
        SquadHub().load()
