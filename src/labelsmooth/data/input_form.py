"""What form an input file to predict has (SQuAD JSON, CoNLL or plain text), judged from the whole file, and
whether that form fits the run's task: one line naming the file (and a line) when it does not.

Judging by the first line alone read a CoNLL file whose first tag is outside the label set as plain text
(every column a "word"), and a SQuAD JSON file given to an NER run as one 900-word "sentence".
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from labelsmooth.data.conll import DOCSTART, _decoded_lines

# The last column of a CoNLL token line: O or a prefixed tag of any of the usual schemes (IOB, IOBES,
# BILOU), known type or not, so that a tag outside the label set is reported by the CoNLL reader at its
# line rather than taken for a word.
TAG = re.compile(r"O|[BIESLU]-\S+")
JSON_START = (b"{", b"[")


def starts_like_json(path: Path) -> bool:
    """The first character that is not white space (or a byte-order mark) opens a JSON object or array."""
    head = path.read_bytes()[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()
    return head[:1] in JSON_START


def is_json(path: Path) -> bool:
    """The whole file is one JSON object or array (a text line may start with `[` too)."""
    if not starts_like_json(path):
        return False
    try:
        return isinstance(json.loads(path.read_text(encoding="utf-8-sig")), dict | list)
    except ValueError:  # not UTF-8 or not JSON: then it is not a JSON file, which is all this asks
        return False


def conll_example(path: Path, labels: Sequence[str]) -> tuple[int, str] | None:
    """(line, text) of a CoNLL token line when the file reads as CoNLL, else None (plain text).

    CoNLL: a `-DOCSTART-` line, or more than half of the token lines with at least 2 columns whose last is
    a tag (`EU B-ORG`, `EU NNP B-NP B-ORG`). Half, not all: a file with a malformed line is still CoNLL, and
    the reader names that line; a sentence of text rarely ends in something shaped like a tag.
    """
    tagged: list[tuple[int, str]] = []
    n_lines = 0
    for lineno, line in _decoded_lines(path):
        fields = line.split()
        if not fields:
            continue
        if fields[0] == DOCSTART:
            return lineno, line
        n_lines += 1
        if len(fields) >= 2 and (fields[-1] in labels or TAG.fullmatch(fields[-1])):
            tagged.append((lineno, line))
    return tagged[0] if 2 * len(tagged) > n_lines else None


def ner_format(path: Path, labels: Sequence[str], fmt: str) -> str:
    """`conll` or `text` for an NER run (`fmt` as given, or judged from the whole file for `auto`); JSON is
    refused whatever `fmt` says."""
    if is_json(path):
        raise ValueError(
            f"{path}: a JSON file (SQuAD questions are the input of a QA run); an NER run reads plain "
            "text, one sentence per line, or CoNLL token lines"
        )
    if fmt != "auto":
        return fmt
    return "text" if conll_example(path, labels) is None else "conll"


def check_qa_input(path: Path) -> None:
    """A QA run reads SQuAD JSON: a file that is not JSON at all is refused, naming what it looks like.
    (A file that starts like JSON goes to the JSON reader, which names the line of a syntax error.)"""
    if starts_like_json(path):
        return
    example = conll_example(path, ())
    looks = "plain text" if example is None else f"CoNLL token lines (line {example[0]}: {example[1]!r})"
    raise ValueError(f"{path}: {looks}, not JSON; a QA run reads a SQuAD 2.0 JSON file")
