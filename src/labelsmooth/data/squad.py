"""SQuAD 2.0: reading and validating the official JSON, and the synthetic, file and hub sources.

Every source has `prepare()` (generate or download; once per node, from Lightning's `prepare_data`),
`load() -> {"train", "val", "test"} -> list[QAExample]` (read only; the synthetic source prepares itself
when its cache is cold) and `official(split)`, the raw SQuAD JSON (a path, or a dict for the hub) that the
official metric scores that split against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelsmooth.data.cache import cached_dir, file_digests
from labelsmooth.data.synthetic_squad import GENERATOR_VERSION, Knobs, generate_squad

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

    Errors name the file and JSON path (`data[3].paragraphs[0]: missing key 'qas'`) or the question id;
    a dataset without any question is an error too (its scores would be 0/0).
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
                if not question.strip():  # else trained on and scored as a question about nothing
                    raise ValueError(f"{path}: question {qid}: the question is empty; expected its text")
                answers = []
                for n, answer in enumerate(_get(qa, "answers", list, at, path)):
                    text = _get(answer, "text", str, f"{at}.answers[{n}]", path)
                    start = _get(answer, "answer_start", int, f"{at}.answers[{n}]", path)
                    if check_answers and not text.strip():
                        raise ValueError(f"{path}: question {qid}: answer {n} has an empty text")
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
    if not examples:
        raise ValueError(f"{path}: no questions (expected at least one entry in data[].paragraphs[].qas)")
    return examples


def read_squad(path: str | Path, check_answers: bool = True) -> list[QAExample]:
    """Examples of a SQuAD 2.0 JSON file (train-v2.0.json / dev-v2.0.json format), validated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such SQuAD file")
    try:
        dataset = json.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark is harmless
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not valid UTF-8 (byte 0x{err.object[err.start]:02x} at offset {err.start})"
        ) from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
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


class SquadSynthetic:
    """Embedded default: deterministic SQuAD-2.0 JSON files, cached under `dir`, read back like real files.

    train/val/test.json live in `dir/<hash>/`, one folder per set of generation parameters (see
    `labelsmooth.data.cache`). The splits are independent draws (different seeds), so test is a held-out
    synthetic split. The difficulty knobs are documented in `synthetic_squad.Knobs`.
    """

    def __init__(
        self,
        dir: str,
        n_paragraphs_train: int,
        n_paragraphs_val: int,
        n_paragraphs_test: int,
        seed: int,
        unanswerable: float = Knobs.unanswerable,
        distractors: float = Knobs.distractors,
        filler: int = Knobs.filler,
        coreference: float = Knobs.coreference,
    ) -> None:
        self.knobs = Knobs(unanswerable, distractors, filler, coreference)  # validates the ranges
        self.sizes = {"train": n_paragraphs_train, "val": n_paragraphs_val, "test": n_paragraphs_test}
        for split, n in self.sizes.items():
            if n < 1:
                raise ValueError(f"data.n_paragraphs_{split}={n}: expected at least 1")
        self.dir = Path(dir)
        self.seed = seed

    def params(self) -> dict:
        """Everything the files depend on: the cache key."""
        sizes = {f"n_paragraphs_{split}": n for split, n in self.sizes.items()}
        head = {"generator": "squad_synthetic", "version": GENERATOR_VERSION, "seed": self.seed}
        return head | sizes | self.knobs.as_dict()

    def _build(self, folder: Path) -> None:
        for index, split in enumerate(SPLITS):
            seed = self.seed * 3 + index  # distinct draws per split
            dataset = generate_squad(self.sizes[split], seed, **self.knobs.as_dict())
            (folder / f"{split}.json").write_text(json.dumps(dataset), encoding="utf-8")

    def prepare(self) -> Path:
        """Generate the files unless cached; the folder holding them."""
        return cached_dir(self.dir, self.params(), self._build)

    def official(self, split: str) -> Path:
        """The split's SQuAD 2.0 JSON file (what `python -m labelsmooth.metrics.squad_v2` scores against)."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: expected one of {SPLITS}")
        return self.prepare() / f"{split}.json"

    def load(self) -> dict[str, list[QAExample]]:
        return {split: read_squad(self.official(split)) for split in SPLITS}


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

    def params(self) -> dict[str, Any]:
        """What identifies this data (for the features cache): the files as they are now."""
        return {"source": "squad_files", "files": file_digests({k: self.official(k) for k in self.files})}

    def prepare(self) -> None:
        """Nothing to download: the constructor has already checked that the files exist."""

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

    def _dataset(self):
        try:
            from datasets import load_dataset  # optional dependency, only for this source
        except ImportError as e:
            raise ImportError(
                "data=squad_hub needs the optional dependency: pip install 'labelsmooth[hub]'"
            ) from e
        return load_dataset(self.name)

    def prepare(self) -> None:
        """Download into the Hugging Face cache (the only step that needs the network)."""
        self._dataset()

    def load(self) -> dict[str, list[QAExample]]:
        data = self._dataset()  # from the HF cache after prepare()
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
