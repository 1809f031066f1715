"""SQuAD 2.0: reading and validating the official JSON, and the synthetic, file and hub sources.

Every source has `load() -> {"train", "val", "test"} -> list[QAExample]` and `official(split)`, the raw
SQuAD JSON (a path, or a dict for the hub) that the official metric scores that split against.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelsmooth.data.synthetic_squad import generate_squad

SPLITS = ("train", "val", "test")


@dataclass
class QAExample:
    """One question: its context and gold answers as (text, character start); no answers = unanswerable."""

    id: str
    title: str
    context: str
    question: str
    answers: list[tuple[str, int]] = field(default_factory=list)

    @property
    def is_impossible(self) -> bool:
        return not self.answers


def _get(node: Any, key: str, kind: type | tuple[type, ...], where: str, path: Any) -> Any:
    """`node[key]`, checked to exist and to have the expected JSON type; else one line naming the place."""
    if not isinstance(node, dict):
        raise ValueError(f"{path}: {where}: expected a JSON object, got {type(node).__name__}")
    if key not in node:
        raise ValueError(f"{path}: {where}: missing key '{key}'")
    value = node[key]
    # bool is an int in Python; an answer_start of `true` is still malformed
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ValueError(f"{path}: {where}: '{key}' is {type(value).__name__}; expected {names}")
    return value


def parse_squad(dataset: Any, path: str | Path = "<json>", check_answers: bool = True) -> list[QAExample]:
    """Examples of a SQuAD 2.0 dict, checking its structure and (with check_answers) every answer_start.

    Errors name the file and JSON path (`data[3].paragraphs[0]: missing key 'qas'`) or the question id.
    """
    examples: list[QAExample] = []
    seen: set[str] = set()
    for a, article in enumerate(_get(dataset, "data", list, "top level", path)):
        title = article.get("title", "") if isinstance(article, dict) else ""
        for p, paragraph in enumerate(_get(article, "paragraphs", list, f"data[{a}]", path)):
            where = f"data[{a}].paragraphs[{p}]"
            context = _get(paragraph, "context", str, where, path)
            for q, qa in enumerate(_get(paragraph, "qas", list, where, path)):
                qid = _get(qa, "id", str, f"{where}.qas[{q}]", path)
                at = f"{where}.qas[{q}] (question {qid})"
                if qid in seen:
                    raise ValueError(f"{path}: {at}: duplicate question id")
                seen.add(qid)
                question = _get(qa, "question", str, at, path)
                answers = []
                for n, answer in enumerate(_get(qa, "answers", list, at, path)):
                    text = _get(answer, "text", str, f"{at}.answers[{n}]", path)
                    start = _get(answer, "answer_start", int, f"{at}.answers[{n}]", path)
                    found = context[start : start + len(text)]
                    if check_answers and (start < 0 or found != text):
                        raise ValueError(
                            f"{path}: question {qid}: answer {text!r} not found at answer_start {start} "
                            f"of the context (found {found!r})"
                        )
                    answers.append((text, start))
                impossible = qa.get("is_impossible")
                if impossible is not None and bool(impossible) == bool(answers):
                    state = "has answers" if answers else "has no answers"
                    raise ValueError(f"{path}: question {qid}: is_impossible={impossible} but it {state}")
                examples.append(QAExample(qid, title, context, question, answers))
    return examples


def read_squad(path: str | Path, check_answers: bool = True) -> list[QAExample]:
    """Examples of a SQuAD 2.0 JSON file (train-v2.0.json / dev-v2.0.json format), validated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such SQuAD file")
    try:
        dataset = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    return parse_squad(dataset, path, check_answers)


def to_squad_json(examples: list[QAExample]) -> dict:
    """The SQuAD 2.0 dict of examples: one article per title; consecutive equal contexts share a paragraph."""
    articles: dict[str, list[dict]] = {}
    for e in examples:
        paragraphs = articles.setdefault(e.title, [])
        if not paragraphs or paragraphs[-1]["context"] != e.context:
            paragraphs.append({"context": e.context, "qas": []})
        answers = [{"text": t, "answer_start": s} for t, s in e.answers]
        qa = {"id": e.id, "question": e.question, "answers": answers, "is_impossible": not answers}
        paragraphs[-1]["qas"].append(qa)
    return {"version": "v2.0", "data": [{"title": t, "paragraphs": ps} for t, ps in articles.items()]}


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so parallel sweep jobs never read a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class SquadSynthetic:
    """Embedded default: deterministic SQuAD-2.0 JSON written once into `dir`, read back like real files.

    train/val/test are independent draws (different seeds), so test is a held-out synthetic split. The
    difficulty knobs are those of `generate_squad`; files are rewritten whenever any parameter changes.
    """

    GENERATOR_VERSION = 4  # bump when generate_squad changes, so cached files are rewritten

    def __init__(
        self,
        dir: str,
        n_paragraphs_train: int,
        n_paragraphs_val: int,
        n_paragraphs_test: int,
        seed: int,
        unanswerable: float = 0.35,
        distractors: float = 0.5,
        filler: int = 3,
        coreference: float = 0.3,
    ) -> None:
        shares = {"unanswerable": unanswerable, "distractors": distractors, "coreference": coreference}
        for key, value in shares.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"data.{key}={value}: expected a value in [0, 1]")
        if filler < 0:
            raise ValueError(f"data.filler={filler}: expected a count >= 0")
        sizes = {"train": n_paragraphs_train, "val": n_paragraphs_val, "test": n_paragraphs_test}
        for split, n in sizes.items():
            if n < 1:
                raise ValueError(f"data.n_paragraphs_{split}={n}: expected at least 1")
        self.dir = Path(dir)
        self.sizes = sizes
        self.seed = seed
        self.knobs = {
            "unanswerable": unanswerable,
            "distractors": distractors,
            "filler": filler,
            "coreference": coreference,
        }

    def _params(self, split: str) -> dict:
        return {
            "generator": self.GENERATOR_VERSION,
            "n_paragraphs": self.sizes[split],
            "seed": self.seed * 3 + SPLITS.index(split),  # distinct draws per split
        } | self.knobs

    def official(self, split: str) -> Path:
        """The split's SQuAD 2.0 JSON file (what `python -m labelsmooth.metrics.squad_v2` scores against)."""
        return self.dir / f"{split}.json"

    def prepare(self) -> None:
        """Once per node, before `load` on every rank: write the cached files."""
        self.load()

    def load(self) -> dict[str, list[QAExample]]:
        self.dir.mkdir(parents=True, exist_ok=True)
        out = {}
        for split in SPLITS:
            path, params_path = self.official(split), self.dir / f"{split}.params.json"
            params = self._params(split)
            fresh = path.is_file() and params_path.is_file() and json.loads(params_path.read_text()) == params
            if not fresh:
                args = {k: v for k, v in params.items() if k != "generator"}
                _write_atomic(path, json.dumps(generate_squad(**args)))
                _write_atomic(params_path, json.dumps(params))  # last: its presence means the data is whole
            out[split] = read_squad(path)
        return out


class SquadFiles:
    """The official files in `dir`. SQuAD 2.0 has no public test set: with test_file null, test = dev.

    The honest default: test/* metrics are then the dev-set numbers again (`test_is_val` says so); pass a
    test_file (e.g. a held-out part of train you split off yourself) for a separate test split.
    """

    def __init__(
        self,
        dir: str,
        train_file: str = "train-v2.0.json",
        val_file: str = "dev-v2.0.json",
        test_file: str | None = None,
    ) -> None:
        self.dir = Path(dir)
        if not self.dir.is_dir():
            raise FileNotFoundError(f"data.dir={dir}: no such directory (expected the SQuAD 2.0 files)")
        self.files = {"train": train_file, "val": val_file, "test": test_file or val_file}
        self.test_is_val = test_file is None
        for split, name in self.files.items():
            if not (self.dir / name).is_file():
                key = "val_file" if split == "test" and self.test_is_val else f"{split}_file"
                raise FileNotFoundError(f"data.{key}={name}: no such file in {self.dir}")

    def official(self, split: str) -> Path:
        """The split's SQuAD 2.0 JSON file (for test with test_file null, the dev file)."""
        return self.dir / self.files[split]

    def prepare(self) -> None:
        """Once per node, before `load` on every rank: nothing to fetch (local files)."""
        return None

    def load(self) -> dict[str, list[QAExample]]:
        val = read_squad(self.official("val"))
        test = val if self.test_is_val else read_squad(self.official("test"))
        return {"train": read_squad(self.official("train")), "val": val, "test": test}


class SquadHub:
    """SQuAD 2.0 from the Hugging Face hub (online once; `pip install 'labelsmooth[hub]'`); test = validation.

    Rows are converted to SQuAD JSON and validated like the files; `official(split)` is that dict.
    """

    def __init__(self, name: str = "rajpurkar/squad_v2") -> None:
        self.name = name
        self._json: dict[str, dict] = {}

    def official(self, split: str) -> dict:
        """The split's SQuAD 2.0 dict (built by `load()`)."""
        if split not in self._json:
            raise RuntimeError(f"data.name={self.name}: call load() before official({split!r})")
        return self._json[split]

    def prepare(self) -> None:
        """Once per node, before `load` on every rank: the datasets library caches its own downloads."""
        return None

    def load(self) -> dict[str, list[QAExample]]:
        from datasets import load_dataset  # optional dependency, only for this source

        data = load_dataset(self.name)
        for split, hub_split in (("train", "train"), ("val", "validation")):
            rows = data[hub_split]
            columns = zip(
                rows["id"], rows["title"], rows["context"], rows["question"], rows["answers"], strict=True
            )
            examples = [
                QAExample(i, t, c, q, list(zip(a["text"], a["answer_start"], strict=True)))
                for i, t, c, q, a in columns
            ]
            self._json[split] = to_squad_json(examples)
        self._json["test"] = self._json["val"]
        out = {s: parse_squad(self._json[s], f"{self.name}[{s}]") for s in ("train", "val")}
        return out | {"test": out["val"]}
