"""The three CoNLL-2003 sources a config picks with `data=`: local files, the embedded generator, the HF hub.

All three end in `make_sentence`, so every sentence gets the same IOB1→IOB2 conversion and label checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from labelsmooth.data.cache import cached_dir, file_digests
from labelsmooth.data.conll import Sentence, make_sentence, read_conll, require_entities
from labelsmooth.data.synthetic_conll import GENERATOR_VERSION, Knobs, generate_conll, write_conll_file


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

    def params(self) -> dict[str, Any]:
        """What identifies this data (for the features cache): the files as they are now."""
        return {"source": "conll_files", "columns": self.columns, "files": file_digests(self.paths())}

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
    """Sentences from (tokens, tags) rows; the row index stands in for the line number; empty rows skipped.
    A split checked as a file is (read_conll): some sentence, some entity."""
    sentences = [
        make_sentence(tokens, tags, path, [index] * len(tokens), labels)
        for index, (tokens, tags) in enumerate(rows)
        if tokens
    ]
    if not sentences:
        raise ValueError(f"{path}: no sentences (every row is empty)")
    require_entities(sentences, path)
    return sentences
