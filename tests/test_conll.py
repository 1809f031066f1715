"""CoNLL reader/writer and the file-based data sources."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelsmooth.data.conll import (
    Sentence,
    iob1_to_iob2,
    read_conll,
    write_predictions,
)
from labelsmooth.data.conll_sources import ConllFiles, ConllHub, ConllSynthetic
from labelsmooth.metrics.conlleval import count_chunks

FIXTURES = Path(__file__).parent / "fixtures" / "conll"
LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def test_reader_on_iob1_with_docstart() -> None:
    path = FIXTURES / "eng_iob1.conll"
    sentences = read_conll(path, LABELS)
    assert [s.tokens for s in sentences] == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn", "met", "John", "Smith", "in", "New", "York", "."],
        ["BRUSSELS", "1996-08-22"],
    ]
    assert sentences[0].tags == ["B-ORG", "O", "B-MISC", "O", "O"]
    # I-PER I-PER then I-PER B-PER: two adjacent PER entities in IOB1.
    assert sentences[1].tags == ["B-PER", "I-PER", "O", "B-PER", "B-PER", "O", "B-LOC", "I-LOC", "O"]
    assert sentences[2].tags == ["B-LOC", "O"]
    assert [(s.path, s.line) for s in sentences] == [(str(path), 3), (str(path), 9), (str(path), 20)]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (
            ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC"],
            ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"],
        ),
        (["I-ORG", "I-MISC", "I-MISC"], ["B-ORG", "B-MISC", "I-MISC"]),  # type change starts an entity
        (["O", "O"], ["O", "O"]),
        ([], []),
    ],
)
def test_iob1_to_iob2_hand_cases(tags: list[str], expected: list[str]) -> None:
    assert iob1_to_iob2(tags) == expected


TAGS = ["O"] + [f"{p}-{t}" for p in "BI" for t in ("PER", "ORG", "LOC", "MISC")]


@st.composite
def iob2_tags(draw) -> list[str]:
    tags: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["O", "PER", "ORG", "LOC", "MISC"]))
        n = draw(st.integers(1, 3))
        tags += ["O"] * n if kind == "O" else [f"B-{kind}"] + [f"I-{kind}"] * (n - 1)
    return tags


@settings(max_examples=50, deadline=None)
@given(iob2_tags())
def test_iob1_to_iob2_is_identity_on_iob2(tags: list[str]) -> None:
    assert iob1_to_iob2(tags) == tags


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(TAGS), max_size=12))
def test_iob1_to_iob2_output_is_valid_iob2_with_same_types(tags: list[str]) -> None:
    out = iob1_to_iob2(tags)
    assert [t[2:] for t in out] == [t[2:] for t in tags]
    for prev, cur in zip(["O", *out], out, strict=False):
        if cur.startswith("I-"):
            assert prev[2:] == cur[2:]
    assert iob1_to_iob2(out) == out


def test_wrong_column_count_names_file_and_line() -> None:
    path = FIXTURES / "bad_columns.conll"
    with pytest.raises(ValueError) as err:
        read_conll(path, LABELS)
    assert str(err.value) == f"{path}:4: expected 4 space-separated columns (token POS chunk NER), got 3"


def test_unknown_tag_names_file_and_line() -> None:
    path = FIXTURES / "bad_tag.conll"
    with pytest.raises(ValueError) as err:
        read_conll(path, LABELS)
    assert str(err.value) == f"{path}:4: tag 'B-FOO' is not in the label set [{', '.join(LABELS)}]"


def test_missing_dir_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"data.dir: no directory {tmp_path / 'nope'}"):
        ConllFiles(str(tmp_path / "nope")).load(LABELS)
    (tmp_path / "eng.train").write_text("")
    with pytest.raises(FileNotFoundError, match=f"data.dir: no CoNLL file {tmp_path / 'eng.testa'}"):
        ConllFiles(str(tmp_path)).load(LABELS)


def test_write_predictions_round_trips_through_reader_and_conlleval(tmp_path: Path) -> None:
    sentences = read_conll(FIXTURES / "eng_iob1.conll", LABELS)
    predictions = [list(s.tags) for s in sentences]
    predictions[0][0] = "O"  # miss EU
    out = tmp_path / "sub" / "pred.conll"
    write_predictions(out, sentences, predictions)
    assert [s.tags for s in read_conll(out, LABELS, columns=3)] == predictions
    with open(out, encoding="utf-8") as f:
        counts = count_chunks(f)
    assert counts.tokens == 16
    assert sum(counts.found_correct.values()) == 7 and sum(counts.correct_chunks.values()) == 6


def test_write_predictions_rejects_length_mismatch(tmp_path: Path) -> None:
    sentence = Sentence(["a", "b"], ["O", "O"], "x.conll", 7)
    with pytest.raises(ValueError, match=r"x.conll:7: 2 tokens but 1 predicted tags"):
        write_predictions(tmp_path / "p", [sentence], [["O"]])


def test_synthetic_source_caches_by_parameters_and_reads_two_columns(tmp_path: Path) -> None:
    source = ConllSynthetic(str(tmp_path), n_train=30, n_val=10, n_test=12, seed=3)
    splits = source.load(LABELS)
    assert {k: len(v) for k, v in splits.items()} == {"train": 30, "val": 10, "test": 12}
    assert all(t in LABELS for s in splits["train"] for t in s.tags)
    folder = source.prepare()
    assert folder.parent == tmp_path and source.paths()["train"] == folder / "eng.train"
    assert splits["train"][0].path == str(folder / "eng.train")
    assert json.loads((folder / "params.json").read_text()) == source.params()
    first = (folder / "eng.train").read_text().splitlines()
    assert first[0] == "-DOCSTART- O" and all(len(line.split(" ")) == 2 for line in first if line)
    stamp = (folder / "eng.train").stat().st_mtime_ns
    again = ConllSynthetic(str(tmp_path), n_train=30, n_val=10, n_test=12, seed=3)
    assert again.load(LABELS) == splits and again.prepare() == folder
    assert (folder / "eng.train").stat().st_mtime_ns == stamp  # cached: not rewritten
    changed = ConllSynthetic(str(tmp_path), n_train=30, n_val=10, n_test=12, seed=4)
    assert [s.tokens for s in changed.load(LABELS)["train"]] != [s.tokens for s in splits["train"]]
    assert changed.prepare() != folder and (folder / "eng.train").is_file()  # both kept, side by side
    assert json.loads((changed.prepare() / "params.json").read_text())["seed"] == 4


def test_synthetic_source_rejects_bad_knobs_and_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"data.cue_dropout=1.5: expected a value in \[0, 1\]"):
        ConllSynthetic(str(tmp_path), cue_dropout=1.5)
    for key in ("n_train", "n_val", "n_test"):
        for n in (0, -2):
            with pytest.raises(ValueError) as err:
                ConllSynthetic(str(tmp_path), **{key: n})
            assert str(err.value) == f"data.{key}={n}: expected a positive number of sentences"
    assert not any(tmp_path.iterdir())  # nothing generated for a rejected configuration


def test_utf8_bom_is_dropped_so_docstart_stays_a_document_line(tmp_path: Path) -> None:
    path = tmp_path / "bom.conll"
    text = (FIXTURES / "eng_iob1.conll").read_text(encoding="utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    assert read_conll(path, LABELS) == [
        Sentence(s.tokens, s.tags, str(path), s.line) for s in read_conll(FIXTURES / "eng_iob1.conll", LABELS)
    ]


def test_a_byte_that_is_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conll"
    path.write_bytes("-DOCSTART- O\n\nJos\u00e9 I-PER\nM\u00fcller I-PER\n".encode("latin-1"))
    with pytest.raises(ValueError) as err:
        read_conll(path, LABELS, columns=2)
    assert str(err.value) == f"{path}:3: not valid UTF-8 (byte 0xe9 at column 4: invalid continuation byte)"
    path.write_bytes(b"\xef\xbb\xbfEU I-ORG\n\xff O\n")  # the BOM does not shift the line count
    with pytest.raises(ValueError, match=rf"^{path}:2: not valid UTF-8 \(byte 0xff at column 1"):
        read_conll(path, LABELS, columns=2)


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- -X- O\n"])
def test_a_file_without_sentences_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "eng.testa"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        read_conll(path, LABELS)
    assert (
        str(err.value) == f"{path}: no sentences (expected token lines; the file is empty or only -DOCSTART-)"
    )


def test_a_split_without_any_entity_is_refused_before_training(tmp_path: Path) -> None:
    """A dev file of only O tags trained to the end, then failed in the projection plot; its entity F1 is
    0/0 (seqeval says 0 whatever the model does), so the reader refuses it, naming the file."""
    good = (FIXTURES / "eng_iob1.conll").read_text(encoding="utf-8")
    (tmp_path / "eng.train").write_text(good)
    (tmp_path / "eng.testb").write_text(good)
    all_o = "".join(f"{line.rsplit(' ', 1)[0]} O\n" if line.strip() else "\n" for line in good.splitlines())
    (tmp_path / "eng.testa").write_text(all_o)
    with pytest.raises(ValueError) as err:
        ConllFiles(str(tmp_path)).load(LABELS)
    n = len(read_conll(FIXTURES / "eng_iob1.conll", LABELS))
    assert str(err.value) == (
        f"{tmp_path / 'eng.testa'}: no entity in its {n} sentences (every tag is O), so entity F1 is "
        "undefined on it; expected at least one B- or I- tag"
    )


def test_a_hub_split_is_checked_as_a_file_is(monkeypatch) -> None:
    """The hub reader went around read_conll's checks: an all-O or empty split was trained on."""

    class Split(list):  # what ConllHub reads of a `datasets` split: its rows and the tag names
        features = {"ner_tags": SimpleNamespace(feature=SimpleNamespace(names=LABELS))}

    def hub(validation: list[dict]) -> dict[str, Split]:
        good = Split([{"tokens": ["EU", "rejects"], "ner_tags": [3, 0]}])
        return {"train": good, "validation": Split(validation), "test": good}

    source = ConllHub()
    monkeypatch.setattr(source, "_dataset", lambda: hub([{"tokens": ["EU", "rejects"], "ner_tags": [3, 0]}]))
    assert [s.tags for s in source.load(LABELS)["val"]] == [["B-ORG", "O"]]
    monkeypatch.setattr(source, "_dataset", lambda: hub([{"tokens": ["a", "b"], "ner_tags": [0, 0]}]))
    with pytest.raises(ValueError, match=r"^hub:eriktks/conll2003/validation: no entity in its 1 sentences"):
        source.load(LABELS)
    monkeypatch.setattr(source, "_dataset", lambda: hub([{"tokens": [], "ner_tags": []}]))
    with pytest.raises(ValueError, match=r"^hub:eriktks/conll2003/validation: no sentences"):
        source.load(LABELS)
