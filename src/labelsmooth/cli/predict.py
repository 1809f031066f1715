"""`labelsmooth-predict <run dir or .ckpt> <input>`: a trained model's predictions on new text.

Prediction *is* evaluation on a one-split data set: the task's own data module, built from the run's saved
config (`.hydra/config.yaml`: max_length, windows, doc_stride, ...) with its source replaced by the input
file, goes through `Trainer.test`, so the module's `collect` and `decode` — the one eval code path — do
the tokenisation, windows and post-processing exactly as they did for the run's test split, and write the
files in the same official formats. Input without gold answers only switches scoring off (`has_gold`).

- NER: plain text, one sentence per line, split on white space; or a CoNLL file (`token … TAG` lines,
  blank lines between sentences). Output: CoNLL lines `token predicted-tag`, or `token gold predicted` when
  the input has tags (the input of `python -m labelsmooth.metrics.conlleval`).
- QA: a SQuAD 2.0 JSON file (`answers` may be left out). Output: `<prefix>predictions.json` and
  `<prefix>na_probs.json`, the official formats that `python -m labelsmooth.metrics.squad_v2` scores.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelsmooth.atomic import atomic_file
from labelsmooth.data.input_form import check_qa_input
from labelsmooth.data.inputs import FORMATS, InputSource, read_ner_input, read_qa_input
from labelsmooth.run.checkpoints import run_config_path
from labelsmooth.run.trained import load_task_module

KEY = "run"  # the argument every checkpoint error names
# Inputs of at least this many batches get a progress bar (on stderr: stdout may carry the predictions).
PROGRESS_MIN_BATCHES = 5
# The data module class of each task, as the run's config must name it (never imported from the config).
DATAMODULES = {"ner": "labelsmooth.tasks.ner.NERDataModule", "qa": "labelsmooth.tasks.qa.QADataModule"}


@dataclass
class Prediction:
    """What a prediction wrote, and its scores when the input carried gold answers."""

    task: str
    files: list[Path]
    has_gold: bool
    metrics: dict[str, float] = field(default_factory=dict)
    items: int = 0


# --- the data module of the run, over the input ---------------------------------------------------------
def datamodule_settings(config_path: Path, task: str) -> dict[str, Any]:
    """The run's `task.datamodule` keys (resolved), without `_target_`, `source` and `model`."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = OmegaConf.load(config_path)
        node = OmegaConf.select(cfg, "task.datamodule")
        if node is None:
            raise ValueError(f"{config_path}: no task.datamodule (not a run config of this project)")
        target = node.get("_target_")
        if target != DATAMODULES[task]:
            raise ValueError(
                f"{config_path}: task.datamodule._target_ is {target!r}; a {task} checkpoint needs "
                f"{DATAMODULES[task]}"
            )
        # The source is replaced by the input, the model comes from the checkpoint, and new input has no
        # features to reuse: none is resolved (their ${hydra:runtime.cwd} only resolves inside a Hydra job).
        for name in ("_target_", "source", "model", "cache_dir"):
            if name in node:
                del node[name]  # not pop(): that would resolve the value first
        return dict(OmegaConf.to_container(node, resolve=True))
    except OmegaConfBaseException as err:
        raise ValueError(f"{config_path}: {str(err).splitlines()[0]}") from None


def build_datamodule(
    module: Any, task: str, config_path: Path, items: list, has_gold: bool, batch_size: int | None
) -> Any:
    """The task's data module with the run's settings and the checkpoint's model and labels, over `items`."""
    from labelsmooth.models.specs import as_spec
    from labelsmooth.tasks.ner import NERDataModule
    from labelsmooth.tasks.qa import QADataModule

    settings = datamodule_settings(config_path, task)
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"--batch-size={batch_size}: expected a positive number")
        settings["eval_batch_size"] = batch_size
    cls = {"ner": NERDataModule, "qa": QADataModule}[task]
    if task == "ner":
        settings["labels"] = list(module.class_names)  # the checkpoint's classes, in its order
    try:
        datamodule = cls(source=InputSource(items), model=as_spec(module.hparams["model"]), **settings)
    except TypeError as err:
        raise ValueError(f"{config_path}: task.datamodule does not fit {cls.__name__} ({err})") from None
    datamodule.has_gold = has_gold  # no gold: decode predicts and writes, and scores nothing
    return datamodule


class _StderrProgressBar:
    """Lightning's tqdm bar, drawn on stderr (stdout may carry the predictions)."""

    @staticmethod
    def make() -> Any:
        from pytorch_lightning.callbacks import TQDMProgressBar
        from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm

        class Bar(TQDMProgressBar):
            def init_test_tqdm(self) -> Tqdm:
                return Tqdm(desc="Predicting", leave=False, dynamic_ncols=True, file=sys.stderr)

        return Bar()


# --- predict ---------------------------------------------------------------------------------------------
def read_input(
    task: str, input_path: str | Path, labels: Sequence[str], fmt: str = "auto"
) -> tuple[list, bool]:
    """The input's items and whether they carry gold, once the form of the whole file fits the task: an NER
    run reads text or CoNLL (never JSON), a QA run SQuAD JSON (never text or CoNLL)."""
    path = Path(input_path).expanduser()
    if not path.is_file():
        raise ValueError(f"input: no such file {path}")
    if task == "qa":
        check_qa_input(path)
        return read_qa_input(path)
    return read_ner_input(path, labels, fmt)


def predict(
    run: str | Path,
    input_path: str | Path,
    out: str | Path | None = None,
    batch_size: int | None = None,
    fmt: str = "auto",
    accelerator: str = "auto",
    progress: bool | None = None,
) -> Prediction:
    """Predict `input_path` with the checkpoint of `run` and write the files (see the module docstring).

    `out`: NER, the output file (None: stdout); QA, the prefix of the two JSON files (None: the current
    folder; a folder: files inside it). `progress`: None shows a bar for inputs of many batches.
    """
    import pytorch_lightning as pl

    if fmt not in FORMATS:
        raise ValueError(f"--format={fmt}: expected one of {', '.join(FORMATS)}")
    module, ckpt, run_dir = load_task_module(run, KEY)
    task = module.task_name
    if task not in DATAMODULES:
        raise ValueError(
            f"{KEY}: {ckpt} is a checkpoint of task {task!r}; predict reads NER or QA input "
            "(evaluate image runs with python run.py train=false ckpt_path=…)"
        )
    config_path = run_config_path(ckpt, run_dir, KEY)
    items, has_gold = read_input(task, input_path, getattr(module, "class_names", ()), fmt)
    datamodule = build_datamodule(module, task, config_path, items, has_gold, batch_size)
    datamodule.prepare_data()
    datamodule.setup("test")
    n_batches = -(-len(datamodule.dataset("test")) // datamodule.eval_batch_size)
    if progress is None:
        progress = n_batches >= PROGRESS_MIN_BATCHES
    with tempfile.TemporaryDirectory(prefix="labelsmooth-predict-") as tmp:
        trainer = pl.Trainer(
            accelerator=accelerator,
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=progress,
            callbacks=[_StderrProgressBar.make()] if progress else [],
            default_root_dir=tmp,  # where decode's files go; moved to `out` below
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            trainer.test(module, datamodule=datamodule, verbose=False)
        written = _move_outputs(task, Path(tmp), out)
    metrics = module.split_metrics.get("test", {}) if has_gold else {}
    return Prediction(task, written, has_gold, metrics, len(items))


def _move_outputs(task: str, tmp: Path, out: str | Path | None) -> list[Path]:
    if task == "ner":
        produced = tmp / "predictions_test.conll"
        if out is None or str(out) == "-":
            sys.stdout.write(produced.read_text(encoding="utf-8"))
            sys.stdout.flush()
            return []
        targets = {produced: Path(out).expanduser()}
    else:
        prefix = "" if out is None else str(Path(out).expanduser())
        if prefix and (Path(prefix).is_dir() or str(out).endswith(("/", "\\"))):
            prefix = str(Path(prefix)) + "/"
        targets = {
            tmp / f"{name}_test.json": Path(f"{prefix}{name}.json") for name in ("predictions", "na_probs")
        }
    for source, target in targets.items():  # the temporary folder may be on another file system
        with atomic_file(target) as f:
            f.write(source.read_bytes())
    return list(targets.values())


def quiet_lightning() -> None:
    """Keep Lightning's start-up notes (accelerators, tips) and known noise off the terminal."""
    import pytorch_lightning  # noqa: F401  (its import sets its loggers to INFO: quieten them after it)

    for name in ("pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*LeafSpec.*")  # lightning vs. torch's pytree deprecation


# --- the command -----------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="labelsmooth-predict",
        description=(
            "Predict new text with a trained run, through the run's own evaluation code path (the same "
            "tokenisation, windows and post-processing as its test split)."
        ),
        epilog=(
            "NER input: plain text, one sentence per line, words split on white space; or a CoNLL file. "
            "--format auto judges the whole file: CoNLL when it has a -DOCSTART- line or more than half of "
            "its lines have at least 2 columns whose last one is a tag (e.g. 'EU B-ORG'); otherwise text. "
            "JSON is refused for NER, and anything but JSON for QA. Output: 'token predicted-tag' lines, "
            "a blank line after each sentence; 'token gold predicted' when the input has tags (score it "
            "with python -m labelsmooth.metrics.conlleval). "
            "QA input: a SQuAD 2.0 JSON file ('answers' may be left out); output: <prefix>predictions.json "
            "and <prefix>na_probs.json (score them with python -m labelsmooth.metrics.squad_v2). "
            "Checkpoints are read with torch.load(weights_only=True): a checkpoint is data, never code."
        ),
    )
    p.add_argument(
        "run", help="a finished run directory (its checkpoints/best.ckpt) or a .ckpt in <run>/checkpoints/"
    )
    p.add_argument("input", help="NER: a text or CoNLL file; QA: a SQuAD 2.0 JSON file")
    p.add_argument(
        "--out",
        help="NER: output file (default: stdout); QA: prefix of the two JSON files (default: current folder)",
    )
    p.add_argument("--batch-size", type=int, help="items per batch (default: the run's eval_batch_size)")
    p.add_argument("--format", choices=FORMATS, default="auto", help="NER input format (default: auto)")
    p.add_argument(
        "--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu (default: auto)"
    )
    p.add_argument("--no-progress", action="store_true", help="never show the progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quiet_lightning()
    try:
        result = predict(
            args.run,
            args.input,
            args.out,
            args.batch_size,
            args.format,
            args.accelerator,
            False if args.no_progress else None,
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"labelsmooth-predict: {err}", file=sys.stderr)
        return 1
    what = "sentences" if result.task == "ner" else "questions"
    where = ", ".join(map(str, result.files)) or "stdout"
    print(f"labelsmooth-predict: {result.items} {what} -> {where}", file=sys.stderr)
    if result.metrics:
        scores = " ".join(f"{k}={v:.4g}" for k, v in result.metrics.items() if not k.endswith("_thresh"))
        print(f"labelsmooth-predict: scores against the input's gold: {scores}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
