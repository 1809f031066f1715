"""SQuAD 2.0: reading and validating the official JSON, and the synthetic, file and hub sources."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelsmooth.data.synthetic_squad import generate_squad


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


def _get(node: Any, key: str, where: str, path: Any) -> Any:
    if not isinstance(node, dict) or key not in node:
        raise ValueError(f"{path}: {where}: missing key '{key}'")
    return node[key]


def parse_squad(dataset: dict, path: str | Path = "<json>") -> list[QAExample]:
    """Examples of a SQuAD 2.0 dict, checking its structure and that every answer_start points at its text."""
    examples = []
    for a, article in enumerate(_get(dataset, "data", "top level", path)):
        for p, paragraph in enumerate(_get(article, "paragraphs", f"data[{a}]", path)):
            where = f"data[{a}].paragraphs[{p}]"
            context = _get(paragraph, "context", where, path)
            for q, qa in enumerate(_get(paragraph, "qas", where, path)):
                qid = _get(qa, "id", f"{where}.qas[{q}]", path)
                answers = []
                for answer in _get(qa, "answers", f"question {qid}", path):
                    text = _get(answer, "text", f"question {qid}", path)
                    start = _get(answer, "answer_start", f"question {qid}", path)
                    found = context[start : start + len(text)]
                    if found != text:
                        raise ValueError(
                            f"{path}: question {qid}: answer {text!r} not found at answer_start {start} "
                            f"of the context (found {found!r})"
                        )
                    answers.append((text, start))
                if qa.get("is_impossible", False) and answers:
                    raise ValueError(f"{path}: question {qid}: is_impossible but has answers")
                title = article.get("title", "")
                examples.append(
                    QAExample(qid, title, context, _get(qa, "question", f"question {qid}", path), answers)
                )
    return examples


def read_squad(path: str | Path) -> list[QAExample]:
    """Examples of a SQuAD 2.0 JSON file (train-v2.0.json / dev-v2.0.json format)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data.dir: no SQuAD file {path}")
    return parse_squad(json.loads(path.read_text()), path)


class SquadFiles:
    """The official files. SQuAD 2.0 has no public test set: with test_file null, test = dev."""

    def __init__(self, dir: str, train_file: str, val_file: str, test_file: str | None) -> None:
        if not Path(dir).is_dir():
            raise FileNotFoundError(f"data.dir: no directory {dir}")
        self.dir = Path(dir)
        self.files = {"train": train_file, "val": val_file, "test": test_file or val_file}

    def load(self) -> dict[str, list[QAExample]]:
        return {split: read_squad(self.dir / name) for split, name in self.files.items()}


class SquadSynthetic:
    """Embedded default: deterministic SQuAD-2.0 JSON written once into `dir`, read like real files."""

    def __init__(
        self,
        dir: str,
        n_paragraphs_train: int,
        n_paragraphs_val: int,
        n_paragraphs_test: int,
        seed: int,
        unanswerable: float,
        distractors: float,
    ) -> None:
        for key, value in (("unanswerable", unanswerable), ("distractors", distractors)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"data.{key}={value}: expected a value in [0, 1]")
        self.dir = Path(dir)
        self.sizes = {"train": n_paragraphs_train, "val": n_paragraphs_val, "test": n_paragraphs_test}
        self.seed = seed
        self.unanswerable = unanswerable
        self.distractors = distractors

    def _params(self, split: str) -> dict:
        offset = {"train": 0, "val": 1, "test": 2}[split]
        # `generator` changes whenever the generator does, so cached files are rewritten.
        return {
            "generator": 3,
            "n_paragraphs": self.sizes[split],
            "seed": self.seed * 3 + offset,
            "unanswerable": self.unanswerable,
            "distractors": self.distractors,
        }

    def load(self) -> dict[str, list[QAExample]]:
        self.dir.mkdir(parents=True, exist_ok=True)
        out = {}
        for split in self.sizes:
            path, params_path = self.dir / f"{split}.json", self.dir / f"{split}.params.json"
            params = self._params(split)
            if not path.exists() or not params_path.exists() or json.loads(params_path.read_text()) != params:
                args = {k: v for k, v in params.items() if k != "generator"}
                path.write_text(json.dumps(generate_squad(**args)))
                params_path.write_text(json.dumps(params))
            out[split] = read_squad(path)
        return out


class SquadHub:
    """SQuAD 2.0 from the Hugging Face hub (online; `pip install 'labelsmooth[hub]'`); test = validation."""

    def __init__(self, name: str) -> None:
        self.name = name

    def load(self) -> dict[str, list[QAExample]]:
        from datasets import load_dataset

        data = load_dataset(self.name)

        def convert(rows) -> list[QAExample]:
            return [
                QAExample(
                    r["id"],
                    r["title"],
                    r["context"],
                    r["question"],
                    list(zip(r["answers"]["text"], r["answers"]["answer_start"], strict=True)),
                )
                for r in rows
            ]

        val = convert(data["validation"])
        return {"train": convert(data["train"]), "val": val, "test": val}
