"""CoNLL-2003 NER data: the file reader/writer and the three sources (synthetic, local files, HF hub).

All three sources end in `make_sentence`, so every sentence gets the same IOB1→IOB2 conversion and the
same label-set validation whatever its origin. Every source has `prepare()` (generate or download; once
per node, from Lightning's `prepare_data`) and `load(labels)` (read only; the synthetic source prepares
itself when its cache is cold, so a bare `load` works too).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from labelsmooth.data.cache import cached_dir
from labelsmooth.data.synthetic_conll import GENERATOR_VERSION, Knobs, generate_conll, write_conll_file

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
    any sentence is an error (an empty split would only surface later as a division by zero).
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
    return sentences


def write_predictions(
    path: str | Path,
    sentences: Sequence[Sentence],
    predictions: Sequence[Sequence[str]],
    with_gold: bool = True,
) -> None:
    """`token gold pred` lines (conlleval's input; `token pred` without gold), a blank line after sentences."""
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n" if out else "", encoding="utf-8")


class ConllFiles:
    """CoNLL-2003 from local files (eng.train / eng.testa / eng.testb by default) in `dir`."""

    def __init__(
        self,
        dir: str,
        train_file: str = "eng.train",
        val_file: str = "eng.testa",
        test_file: str = "eng.testb",
        columns: int = 4,
    ) -> None:
        self.dir = Path(dir)
        self.files = {"train": train_file, "val": val_file, "test": test_file}
        self.columns = columns

    def paths(self) -> dict[str, Path]:
        """The three split files, checked to exist (one clear line naming the missing one)."""
        if not self.dir.is_dir():
            raise FileNotFoundError(f"data.dir: no directory {self.dir}")
        paths = {split: self.dir / name for split, name in self.files.items()}
        for p in paths.values():
            if not p.is_file():
                raise FileNotFoundError(f"data.dir: no CoNLL file {p}")
        return paths

    def prepare(self) -> None:
        """Nothing to download: only check that the three files are there, before any training starts."""
        self.paths()

    def load(self, labels: Sequence[str]) -> dict[str, list[Sentence]]:
        return {split: read_conll(p, labels, self.columns) for split, p in self.paths().items()}


class ConllSynthetic:
    """The embedded default: generated CoNLL-2003-format files, cached under `dir`, read like real files.

    The three files (eng.train / eng.testa / eng.testb, 2 columns `token NER`) live in `dir/<hash>/`, one
    folder per set of generation parameters (see `labelsmooth.data.cache`), so runs with other `data.*`
    values never share files. The difficulty knobs are documented in `synthetic_conll.Knobs`.
    """

    FILES = {"train": "eng.train", "val": "eng.testa", "test": "eng.testb"}

    def __init__(
        self,
        dir: str,
        n_train: int = 1500,
        n_val: int = 300,
        n_test: int = 300,
        seed: int = 0,
        ambiguity: float = Knobs.ambiguity,
        cue_dropout: float = Knobs.cue_dropout,
        unseen_names: float = Knobs.unseen_names,
        distractors: float = Knobs.distractors,
    ) -> None:
        for key, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if n < 1:
                raise ValueError(f"data.{key}={n}: expected a positive number of sentences")
        self.knobs = Knobs(ambiguity, cue_dropout, unseen_names, distractors)  # validates the ranges
        self.dir = Path(dir)
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.seed = seed

    def params(self) -> dict:
        """Everything the files depend on: the cache key."""
        sizes = {f"n_{split}": n for split, n in self.sizes.items()}
        head = {"generator": "conll_synthetic", "version": GENERATOR_VERSION, "seed": self.seed}
        return head | sizes | self.knobs.as_dict()

    def _build(self, folder: Path) -> None:
        for split, name in self.FILES.items():
            sentences = generate_conll(self.sizes[split], self.seed, split=split, **self.knobs.as_dict())
            write_conll_file(folder / name, sentences)

    def prepare(self) -> Path:
        """Generate the files unless cached; the folder holding them."""
        return cached_dir(self.dir, self.params(), self._build)

    def paths(self) -> dict[str, Path]:
        """Each split's CoNLL file (generated first if need be)."""
        folder = self.prepare()
        return {split: folder / name for split, name in self.FILES.items()}

    def load(self, labels: Sequence[str]) -> dict[str, list[Sentence]]:
        return {split: read_conll(p, labels, columns=2) for split, p in self.paths().items()}


class ConllHub:
    """CoNLL-2003 from the Hugging Face hub (needs the network once and `pip install 'labelsmooth[hub]'`).

    The default is the parquet conversion of `eriktks/conll2003` (the original repo is a loading script,
    which recent `datasets` versions no longer run). Its integer `ner_tags` are mapped to names with the
    dataset's own `ClassLabel` names; they are IOB2 already, and go through the same validation as files.
    """

    HUB_SPLITS = {"train": "train", "val": "validation", "test": "test"}

    def __init__(
        self, name: str = "eriktks/conll2003", revision: str | None = "refs/convert/parquet"
    ) -> None:
        self.name = name
        self.revision = revision

    def _dataset(self):
        try:
            import datasets
        except ImportError as e:
            raise ImportError(
                "data=conll_hub needs the optional dependency: pip install 'labelsmooth[hub]'"
            ) from e
        return datasets.load_dataset(self.name, revision=self.revision)

    def prepare(self) -> None:
        """Download into the Hugging Face cache (the only step that needs the network)."""
        self._dataset()

    def load(self, labels: Sequence[str]) -> dict[str, list[Sentence]]:
        ds = self._dataset()  # from the HF cache after prepare()
        out = {}
        for split, hub_split in self.HUB_SPLITS.items():
            if hub_split not in ds:
                raise KeyError(f"data.name={self.name}: no split {hub_split!r} (has {sorted(ds)})")
            feature = ds[hub_split].features["ner_tags"]
            names = getattr(getattr(feature, "feature", None), "names", None)
            if names is None:
                raise TypeError(f"data.name={self.name}: ner_tags are not ClassLabel ids with names")
            rows = ((ex["tokens"], [names[i] for i in ex["ner_tags"]]) for ex in ds[hub_split])
            out[split] = _sentences_from_rows(rows, f"hub:{self.name}/{hub_split}", labels)
        return out


def _sentences_from_rows(
    rows: Iterable[tuple[list[str], list[str]]], path: str, labels: Sequence[str]
) -> list[Sentence]:
    """Sentences from (tokens, tags) rows; the row index stands in for the line number; empty rows skipped."""
    return [
        make_sentence(tokens, tags, path, [index] * len(tokens), labels)
        for index, (tokens, tags) in enumerate(rows)
        if tokens
    ]
