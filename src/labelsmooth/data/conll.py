"""CoNLL-2003 NER data: the file reader and the predictions writer (the sources are in conll_sources.py).

All three sources end in `make_sentence`, so every sentence gets the same IOB1→IOB2 conversion and the
same label-set validation whatever its origin. Every source has `prepare()` (generate or download; once
per node, from Lightning's `prepare_data`) and `load(labels)` (read only; the synthetic source prepares
itself when its cache is cold, so a bare `load` works too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from labelsmooth.atomic import write_atomic

SPLITS = ("train", "val", "test")
DOCSTART = "-DOCSTART-"
# What each column count means, for the error message of a malformed line.
_COLUMN_NAMES = {2: "token NER", 3: "token POS NER", 4: "token POS chunk NER"}


@dataclass(frozen=True)
class Sentence:
    """One sentence: words, their IOB2 tags, and where it came from (for error messages)."""

    tokens: list[str]
    tags: list[str]
    path: str = "<memory>"
    line: int = 0  # line number of the first token (or the example index for hub data)


def _split_tag(tag: str) -> tuple[str, str]:
    """('B', 'PER') for 'B-PER', ('O', '') for 'O'; anything else is malformed."""
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if not dash or prefix not in ("B", "I") or not kind:
        raise ValueError(f"tag {tag!r}: expected O, B-TYPE or I-TYPE")
    return prefix, kind


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 → IOB2: an I- that starts an entity (after O or another type) becomes B-; idempotent on IOB2."""
    out: list[str] = []
    prev_kind = ""
    for tag in tags:
        prefix, kind = _split_tag(tag)
        if prefix == "I" and kind != prev_kind:
            tag = f"B-{kind}"
        out.append(tag)
        prev_kind = kind
    return out


def _label_types(labels: Sequence[str]) -> set[str]:
    return {_split_tag(label)[1] for label in labels if label != "O"}


def make_sentence(
    tokens: list[str], tags: list[str], path: str, lines: Sequence[int], labels: Sequence[str]
) -> Sentence:
    """Validate tags against `labels` (naming path:line of the first bad one) and convert them to IOB2."""
    types = _label_types(labels)
    listed = "[" + ", ".join(labels) + "]"
    for tag, lineno in zip(tags, lines, strict=True):
        ok = tag in labels if tag == "O" else (tag[:2] in ("B-", "I-") and tag[2:] in types)
        if not ok:
            raise ValueError(f"{path}:{lineno}: tag {tag!r} is not in the label set {listed}")
    iob2 = iob1_to_iob2(tags)
    for tag, lineno in zip(iob2, lines, strict=True):
        if tag not in labels:  # e.g. only I-PER configured: the IOB2 B-PER has no class
            raise ValueError(f"{path}:{lineno}: tag {tag!r} (in IOB2) is not in the label set {listed}")
    return Sentence(list(tokens), iob2, path, lines[0] if lines else 0)


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line, decoded one by one so that a bad byte is reported with its line.

    A UTF-8 byte-order mark at the start is dropped (utf-8-sig): left in, it would turn a first
    `-DOCSTART-` line into a one-token sentence. Lines end at \\n, \\r\\n or \\r, as in text mode.
    """
    for lineno, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as err:
            byte = err.object[err.start : err.start + 1].hex()
            raise ValueError(
                f"{path}:{lineno}: not valid UTF-8 (byte 0x{byte} at column {err.start + 1}: {err.reason})"
            ) from err


def read_conll(path: str | Path, labels: Sequence[str], columns: int = 4) -> list[Sentence]:
    """Sentences of a CoNLL file: `columns` space-separated fields per token line, the NER tag last.

    Blank lines end sentences; `-DOCSTART-` lines are document boundaries, never sentences. A file without
    any sentence is an error (an empty split would only surface later as a division by zero), and so is one
    without any entity (`require_entities`).
    """
    if columns < 2:
        raise ValueError(f"data.columns={columns}: expected at least 2 (token and NER tag)")
    what = _COLUMN_NAMES.get(columns, "token … NER")
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []

    def flush() -> None:
        if tokens:
            sentences.append(make_sentence(tokens, tags, str(path), lines, labels))
            tokens.clear()
            tags.clear()
            lines.clear()

    for lineno, line in _decoded_lines(Path(path)):
        fields = line.split()
        if not fields or fields[0] == DOCSTART:
            flush()
            continue
        if len(fields) != columns:
            raise ValueError(
                f"{path}:{lineno}: expected {columns} space-separated columns ({what}), got {len(fields)}"
            )
        tokens.append(fields[0])
        tags.append(fields[-1])
        lines.append(lineno)
    flush()
    if not sentences:
        raise ValueError(f"{path}: no sentences (expected token lines; the file is empty or only -DOCSTART-)")
    require_entities(sentences, path)
    return sentences


def require_entities(sentences: Sequence[Sentence], where: str | Path) -> None:
    """At least one entity among the gold tags. Without one, entity precision, recall and F1 are 0/0 (seqeval
    reports 0 whatever the model predicts), so a val split would select the best checkpoint by a constant
    and a test split would score nonsense: refused before any training."""
    if not any(tag != "O" for sentence in sentences for tag in sentence.tags):
        raise ValueError(
            f"{where}: no entity in its {len(sentences)} sentences (every tag is O), so entity F1 is "
            "undefined on it; expected at least one B- or I- tag"
        )


def write_predictions(
    path: str | Path,
    sentences: Sequence[Sentence],
    predictions: Sequence[Sequence[str]],
    with_gold: bool = True,
) -> None:
    """`token gold pred` lines (the conlleval input; `token pred` without gold), a blank line after each."""
    if len(sentences) != len(predictions):
        raise ValueError(f"{path}: {len(sentences)} sentences but {len(predictions)} prediction lists")
    out: list[str] = []
    for sentence, pred in zip(sentences, predictions, strict=True):
        if len(pred) != len(sentence.tokens):
            raise ValueError(
                f"{sentence.path}:{sentence.line}: {len(sentence.tokens)} tokens "
                f"but {len(pred)} predicted tags"
            )
        if with_gold:
            out.extend(f"{t} {g} {p}" for t, g, p in zip(sentence.tokens, sentence.tags, pred, strict=True))
        else:
            out.extend(f"{t} {p}" for t, p in zip(sentence.tokens, pred, strict=True))
        out.append("")
    write_atomic(path, "\n".join(out) + "\n" if out else "")
