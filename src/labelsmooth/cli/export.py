"""`labelsmooth-export <run dir or .ckpt> <out dir>`: a trained run as a Hugging Face model folder.

NER becomes `AutoModelForTokenClassification` (with the run's labels as `id2label` / `label2id`), QA
`AutoModelForQuestionAnswering`, each built from the encoder's own config. The weights are copied from the
lab module: its `encoder` into the Hugging Face model's base model (`bert` for BERT and MiniLM), its
`classifier` / `qa_outputs` into the head of the same name. Before anything is written, the Hugging Face
model's logits must equal the lab module's on a dummy batch (atol 1e-5); the folder (model and tokenizer,
`save_pretrained`) then loads in `transformers.pipeline("token-classification")`, and for QA in
`AutoModelForQuestionAnswering.from_pretrained` (and `pipeline("question-answering")` on transformers < 5,
which removed that pipeline).
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labelsmooth.atomic import atomic_dir
from labelsmooth.models.packing import encode
from labelsmooth.run.trained import load_task_module

KEY = "run"
ATOL = 1e-5
# Per task: the Auto class and the head it shares with the lab module (same attribute name on both).
HEADS = {
    "ner": ("AutoModelForTokenClassification", "classifier"),
    "qa": ("AutoModelForQuestionAnswering", "qa_outputs"),
}
DUMMY_TEXT = ("EU rejects German call to boycott British lamb .", "Peter Blackburn")
DUMMY_QUESTION = ("Who rejected the call?", "The EU rejected the German call to boycott British lamb.")


def build_hf_model(module: Any) -> nn.Module:
    """The Hugging Face model of the task with the lab module's weights, in eval mode."""
    import transformers

    task = module.task_name
    if task not in HEADS:
        raise ValueError(f"{KEY}: a checkpoint of task {task!r} has no Hugging Face form (NER and QA only)")
    auto_name, head = HEADS[task]
    config = copy.deepcopy(module.encoder.config)
    config.architectures = None  # save_pretrained writes the task class
    # A plain Hugging Face model: transformers' default attention on padded batches, not the lab's packed one.
    config._attn_implementation = None
    if task == "ner":
        labels = list(module.class_names)
        config.num_labels = len(labels)
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: i for i, label in enumerate(labels)}
    else:
        config.num_labels = 2  # start and end, in that order: the lab's qa_outputs(...).unbind(-1)
    try:
        model = getattr(transformers, auto_name).from_config(config)
    except ValueError as err:  # an encoder type without that task class
        raise ValueError(f"{KEY}: {type(config).__name__} has no {auto_name} ({err})") from None
    _copy_weights(model.base_model, module.encoder, f"{type(model).__name__}.{model.base_model_prefix}")
    if not isinstance(getattr(model, head, None), nn.Linear):
        raise ValueError(f"{KEY}: {type(model).__name__} has no linear `{head}` head to copy the run's into")
    _copy_weights(getattr(model, head), getattr(module, head), f"{type(model).__name__}.{head}")
    return model.eval()


def _copy_weights(target: nn.Module, source: nn.Module, where: str) -> None:
    """Load `source`'s state_dict into `target`: every key, every shape, or one line saying what differs."""
    try:
        target.load_state_dict(source.state_dict(), strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())[:300]
        raise ValueError(f"{KEY}: the run's weights do not fit {where} ({detail})") from None


@torch.no_grad()
def max_logit_difference(module: Any, model: nn.Module, tokenizer: Any) -> float:
    """The largest |lab logit - Hugging Face logit| at the real tokens of a dummy batch (eval mode, CPU).

    Padding is left out: what a model puts there is masked by every reader (the lab's packed encoder puts 0).
    """
    module.eval()
    if module.task_name == "ner":
        batch = tokenizer(list(DUMMY_TEXT), padding=True, return_tensors="pt")
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        ours = module.classifier(encode(module.encoder, **inputs))
        theirs = model(**inputs).logits
    else:
        batch = tokenizer(*DUMMY_QUESTION, return_tensors="pt")
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        ours = module.qa_outputs(encode(module.encoder, **inputs))
        out = model(**inputs)
        theirs = torch.stack([out.start_logits, out.end_logits], dim=-1)
    if ours.shape != theirs.shape:
        return float("inf")
    real = inputs["attention_mask"].bool()
    return float((ours[real].float() - theirs[real].float()).abs().max())


def export(run: str | Path, out_dir: str | Path) -> Path:
    """Write the run's model and tokenizer as a Hugging Face folder at `out_dir` (new or empty)."""
    from labelsmooth.models.specs import as_spec

    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"out_dir: {out} exists and is not an empty folder; choose a new one")
    module, ckpt, _ = load_task_module(run, KEY)
    model = build_hf_model(module)
    tokenizer = as_spec(module.hparams["model"]).tokenizer()
    diff = max_logit_difference(module, model, tokenizer)
    if not diff <= ATOL:
        raise ValueError(
            f"{KEY}: {ckpt}: the exported model's logits differ from the run's by {diff:.3g} "
            f"(more than {ATOL}); nothing written"
        )
    # Published whole (atomic_dir renames over the empty folder): a failed export leaves no half model.
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="labelsmooth-export",
        description=(
            "Write a trained NER or QA run as a Hugging Face model folder (AutoModelForTokenClassification "
            "or AutoModelForQuestionAnswering, with its tokenizer) that transformers.pipeline loads."
        ),
        epilog="Checkpoints are read with torch.load(weights_only=True): a checkpoint is data, never code.",
    )
    p.add_argument("run", help="a finished run directory (its checkpoints/best.ckpt) or a .ckpt")
    p.add_argument("out_dir", help="the folder to write (new, or empty)")
    args = p.parse_args(argv)
    try:
        out = export(args.run, args.out_dir)
    except (ValueError, FileNotFoundError) as err:
        print(f"labelsmooth-export: {err}", file=sys.stderr)
        return 1
    print(f"labelsmooth-export: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
