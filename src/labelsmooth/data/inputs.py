"""New text to predict on: NER sentences (plain text or CoNLL) and SQuAD questions, read and checked.

`InputSource` serves them as the one `test` split of a data module, so prediction runs the evaluation path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labelsmooth.data.conll import DOCSTART, Sentence, _decoded_lines, read_conll
from labelsmooth.data.input_form import ner_format
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


def read_ner_input(path: str | Path, labels: Sequence[str], fmt: str = "auto") -> tuple[list[Sentence], bool]:
    """The input's sentences and whether they carry gold tags; errors name file:line. The form (`auto`) is
    judged from the whole file (input_form.ner_format), and JSON is refused."""
    path = _input_file(path)
    fmt = ner_format(path, labels, fmt)
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
