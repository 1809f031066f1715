"""New text to predict on: NER sentences (plain text or CoNLL) and SQuAD questions, read and checked.

`InputSource` serves them as the one `test` split of a data module, so prediction runs the evaluation path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labelsmooth.data.conll import DOCSTART, Sentence, _decoded_lines, read_conll
from labelsmooth.data.squad import QAExample, parse_squad

FORMATS = ("auto", "conll", "text")


class InputSource:
    """A data source with one split, `test`: the input file's items (what `NERDataModule` /
    `QADataModule` ask their source for)."""

    def __init__(self, items: list) -> None:
        self.items = items

    def prepare(self) -> None:
        """Nothing to generate or download: the input was read and checked already."""

    def load(self, *_: Any) -> dict[str, list]:
        return {"test": self.items}


def _is_tag(value: str, labels: Sequence[str]) -> bool:
    """A tag of the label set, in IOB2 or IOB1 (I- of a known type)."""
    types = {label.split("-", 1)[1] for label in labels if "-" in label}
    return value in labels or (value[:2] in ("B-", "I-") and value[2:] in types)


def detect_format(path: Path, labels: Sequence[str]) -> str:
    """`conll` when the first non-blank line is -DOCSTART- or has ≥2 columns ending in a tag of the label
    set (`EU B-ORG`, `EU NNP B-NP B-ORG`); `text` otherwise."""
    for _, line in _decoded_lines(path):
        fields = line.split()
        if fields:
            is_conll = fields[0] == DOCSTART or (len(fields) >= 2 and _is_tag(fields[-1], labels))
            return "conll" if is_conll else "text"
    return "text"


def read_ner_input(path: str | Path, labels: Sequence[str], fmt: str = "auto") -> tuple[list[Sentence], bool]:
    """The input's sentences and whether they carry gold tags; errors name file:line."""
    path = _input_file(path)
    fmt = detect_format(path, labels) if fmt == "auto" else fmt
    if fmt == "conll":
        # The column count of the first line (a `-DOCSTART-` line has the file's columns too, unless bare).
        for lineno, line in _decoded_lines(path):
            fields = line.split()
            if fields and fields != [DOCSTART]:
                if len(fields) < 2:
                    raise ValueError(
                        f"{path}:{lineno}: a CoNLL line needs at least 2 columns (token … NER tag), got 1"
                    )
                return read_conll(path, labels, columns=len(fields)), True
        raise ValueError(f"{path}: no sentences (expected token lines; the file is empty or only -DOCSTART-)")
    placeholder = [labels[0]]  # a tag the features need; with has_gold=False it is never scored or written
    sentences = [
        Sentence(tokens, placeholder * len(tokens), str(path), lineno)
        for lineno, line in _decoded_lines(path)
        if (tokens := line.split())
    ]
    if not sentences:
        raise ValueError(f"{path}: no sentences (expected one sentence per line)")
    return sentences, False


def read_qa_input(path: str | Path) -> tuple[list[QAExample], bool]:
    """The input's questions and whether all carry gold `answers` (then checked against their context)."""
    path = _input_file(path)
    try:
        dataset = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not valid UTF-8 (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}:{err.colno}: not valid JSON ({err.msg})") from None
    has_gold = True
    articles = dataset.get("data") if isinstance(dataset, dict) else None
    for article in articles if isinstance(articles, list) else []:
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        for paragraph in paragraphs if isinstance(paragraphs, list) else []:
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            for qa in qas if isinstance(qas, list) else []:
                if isinstance(qa, dict) and "answers" not in qa:  # a question to answer, no gold
                    qa["answers"] = []
                    qa.pop("is_impossible", None)
                    has_gold = False
    return parse_squad(dataset, path, check_answers=has_gold), has_gold


def _input_file(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"input: no such file {path}")
    return path
