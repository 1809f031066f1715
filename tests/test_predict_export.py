"""predict and export: the eval code path on new input, a Hugging Face folder, and safe checkpoint loading.

One tiny NER run and one tiny QA run (run.py in a subprocess, once per module) are predicted again from
their test files, which must reproduce the files the runs wrote, byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_NER, run_entry

from labelsmooth.cli import export, predict
from labelsmooth.data import inputs
from labelsmooth.data.input_form import ner_format
from labelsmooth.models.packing import encode
from labelsmooth.run.trained import load_task_module

NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
NER_GIVEN_JSON = (
    "a JSON file (SQuAD questions are the input of a QA run); an NER run reads plain text, one sentence per "
    "line, or CoNLL token lines"
)
TINY_QA = [
    "task=qa",
    "model=tiny",
    "data.n_paragraphs_train=12",
    "data.n_paragraphs_val=4",
    "data.n_paragraphs_test=4",
    "trainer.max_epochs=1",
]


class RunsCode:
    """A pickle payload that runs a shell command when unpickled by a full (not weights-only) load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def tiny_run(tmp_path_factory, name: str, overrides: list[str]) -> Path:
    cwd = tmp_path_factory.mktemp(name)
    run_entry([*overrides, "logger=none", f"hydra.run.dir={cwd / 'run'}"], cwd=cwd)
    return cwd / "run"


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory, "ner", TINY_NER)


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory, "qa", TINY_QA)


def data_file(run: Path, pattern: str) -> Path:
    """The synthetic split file the run read (the data cache lives under the run's working folder)."""
    return next((run.parent / "data").glob(pattern))


def conll_tags(path: Path) -> list[list[str]]:
    """The last column of each sentence of a predictions file."""
    blocks = path.read_text(encoding="utf-8").strip("\n").split("\n\n")
    return [[line.split()[-1] for line in block.splitlines()] for block in blocks]


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --- NER ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_predict_reproduces_the_ner_runs_test_predictions(ner_run, tmp_path):
    test_file = data_file(ner_run, "conll_synthetic/*/eng.testb")  # CoNLL with gold, -DOCSTART- first
    out = tmp_path / "pred.conll"
    assert predict.main([str(ner_run), str(test_file), "--out", str(out)]) == 0
    assert out.read_text() == (ner_run / "predictions_test.conll").read_text()
    # A checkpoint file finds the run's config in <ckpt>/../../.hydra; a smaller batch changes nothing.
    best = ner_run / "checkpoints" / "best.ckpt"
    result = predict.predict(best, test_file, tmp_path / "again.conll", batch_size=3)
    assert (tmp_path / "again.conll").read_text() == out.read_text()
    metrics = json.loads((ner_run / "metrics.json").read_text())
    assert result.has_gold and result.metrics["f1"] == metrics["test/f1"]


@pytest.mark.slow
def test_predict_on_plain_text_writes_token_tag_lines(ner_run, tmp_path, capsys):
    gold = (ner_run / "predictions_test.conll").read_text().strip("\n").split("\n\n")[:3]
    sentences = [[line.split()[0] for line in block.splitlines()] for block in gold]
    text = tmp_path / "input.txt"
    text.write_text("\n".join(" ".join(words) for words in sentences) + "\n\n")  # a blank line is skipped
    assert predict.main([str(ner_run), str(text)]) == 0  # no --out: stdout
    lines = capsys.readouterr().out.splitlines()
    words = [line.split() for line in lines if line]
    assert all(len(w) == 2 and w[1] in NER_LABELS for w in words)
    assert [w[0] for w in words] == [w for s in sentences for w in s]
    # The same sentences as text or as CoNLL get the same tags (their windows and batches differ in nothing).
    out = tmp_path / "input.conll"
    out.write_text("\n".join(lines) + "\n")
    assert conll_tags(out) == [[line.split()[-1] for line in block.splitlines()] for block in gold]


@pytest.mark.slow
def test_bad_input_fails_in_one_line_naming_file_and_line(ner_run, tmp_path, capsys):
    bad = tmp_path / "bad.conll"
    bad.write_text("EU B-ORG\nrejects O\nGerman B-FOO\n")
    assert predict.main([str(ner_run), str(bad)]) == 1
    labels = ", ".join(NER_LABELS)
    assert error_line(capsys).endswith(f"{bad}:3: tag 'B-FOO' is not in the label set [{labels}]")
    # SQuAD JSON given to an NER run was tagged as one long "sentence"; now its form is refused first.
    squad = ROOT / "tests" / "fixtures" / "squad" / "dev-mini.json"
    assert predict.main([str(ner_run), str(squad)]) == 1
    assert error_line(capsys) == f"labelsmooth-predict: {squad}: {NER_GIVEN_JSON}"
    ckpt = tmp_path / "elsewhere.ckpt"  # a checkpoint outside its run: no config for the data settings
    ckpt.write_bytes((ner_run / "checkpoints" / "best.ckpt").read_bytes())
    assert predict.main([str(ckpt), str(bad)]) == 1
    assert f"run: no run config at {tmp_path.parent / '.hydra' / 'config.yaml'}" in error_line(capsys)


@pytest.mark.slow
def test_export_loads_in_the_token_classification_pipeline_and_agrees_with_predict(ner_run, tmp_path):
    from transformers import pipeline

    out = export.export(ner_run, tmp_path / "hf")
    assert {"config.json", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {str(i): label for i, label in enumerate(NER_LABELS)}
    words = (ner_run / "predictions_test.conll").read_text().split("\n\n")[1].split()[::3]
    tagger = pipeline("token-classification", model=str(out), aggregation_strategy="none", ignore_labels=[])
    sentence = " ".join(words)
    by_start = {token["start"]: token["entity"] for token in tagger(sentence)}
    starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
    text = tmp_path / "sentence.txt"
    text.write_text(sentence + "\n")
    predict.predict(ner_run, text, tmp_path / "pred.conll")
    assert [by_start[s] for s in starts] == conll_tags(tmp_path / "pred.conll")[0]  # first sub-words
    with pytest.raises(ValueError, match="exists and is not an empty folder"):
        export.export(ner_run, out)


@pytest.mark.slow
def test_predict_command_runs_as_a_module(ner_run, tmp_path):
    text = tmp_path / "input.txt"
    text.write_text("Peter Blackburn visited Berlin\n")
    proc = subprocess.run(
        [sys.executable, "-m", "labelsmooth.cli.predict", str(ner_run), str(text)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    words = [line.split()[0] for line in proc.stdout.splitlines() if line]
    assert words == ["Peter", "Blackburn", "visited", "Berlin"]


# --- QA ----------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_predict_reproduces_the_qa_runs_test_files_with_and_without_gold(qa_run, tmp_path):
    test_json = data_file(qa_run, "squad_synthetic/*/test.json")
    assert predict.main([str(qa_run), str(test_json), "--out", str(tmp_path / "gold.")]) == 0
    for name in ("predictions", "na_probs"):
        assert (tmp_path / f"gold.{name}.json").read_text() == (qa_run / f"{name}_test.json").read_text()
    dataset = json.loads(test_json.read_text())  # the same questions without answers: nothing to score
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                del qa["answers"]
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps(dataset))
    result = predict.predict(qa_run, questions, tmp_path)
    assert not result.has_gold and not result.metrics
    for name in ("predictions", "na_probs"):
        assert (tmp_path / f"{name}.json").read_text() == (qa_run / f"{name}_test.json").read_text()


@pytest.mark.slow
def test_qa_export_loads_offline_with_the_same_logits(qa_run, tmp_path):
    import transformers
    from transformers.pipelines import SUPPORTED_TASKS

    out = export.export(qa_run, tmp_path / "hf")
    question, context = "Who rejected the call?", "The EU rejected the German call to boycott British lamb."
    if "question-answering" in SUPPORTED_TASKS:  # removed in transformers 5
        reader = transformers.pipeline("question-answering", model=str(out))
        answer = reader(question=question, context=context)
        assert answer["answer"] in context
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(out).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    module, _, _ = load_task_module(qa_run, "run")
    batch = tokenizer(question, context, return_tensors="pt")
    with torch.no_grad():
        theirs = model(**batch)
        ours = module.qa_outputs(encode(module.encoder, **batch))
    torch.testing.assert_close(theirs.start_logits, ours[..., 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(theirs.end_logits, ours[..., 1], atol=1e-5, rtol=0)


# --- safe loading (no run needed) --------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["torch zip", "plain pickle"])
def test_a_checkpoint_that_would_run_code_is_refused_unrun(tmp_path, form, capsys):
    path, marker = tmp_path / "evil.ckpt", tmp_path / "code_ran"
    payload = {"state_dict": {}, "task_name": "ner", "hyper_parameters": {"x": RunsCode(marker)}}
    if form == "torch zip":
        torch.save(payload, path)
    else:
        import pickle

        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(ValueError) as err:
        load_task_module(path, "run")
    message = str(err.value)
    assert message.startswith(f"run: {path} is not a readable checkpoint (") and "\n" not in message
    if form == "torch zip":
        assert "global posix.system" in message or "global os.system" in message
    assert predict.main([str(path), str(tmp_path / "input.txt")]) == 1
    assert error_line(capsys).startswith(f"labelsmooth-predict: run: {path} is not a readable checkpoint")
    assert export.main([str(path), str(tmp_path / "hf")]) == 1
    assert error_line(capsys).startswith(f"labelsmooth-export: run: {path} is not a readable checkpoint")
    assert not marker.exists(), "loading the checkpoint ran code from it"


def test_unfinished_runs_and_foreign_checkpoints_are_refused(tmp_path):
    run = tmp_path / "interrupted"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {}, "task_name": "ner"}, run / "checkpoints" / "last.ckpt")
    for target in (run, run / "checkpoints" / "last.ckpt"):
        with pytest.raises(ValueError, match=r"^run: .* is not a finished run \(no metrics.json"):
            load_task_module(target, "run")
    (run / "metrics.json").write_text("{}")
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "task_name": "speech"}, other)
    with pytest.raises(ValueError, match=r"is a checkpoint of task 'speech', expected one of"):
        load_task_module(other, "run")
    with pytest.raises(ValueError, match=r"^run: no checkpoint or run directory at"):
        load_task_module(tmp_path / "missing", "run")


def test_ner_input_format_detection(tmp_path):
    cases = {
        "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\n": "conll",
        "EU B-ORG\nrejects O\n": "conll",
        "EU I-ORG\n": "conll",  # IOB1
        "EU rejects German call\n": "text",
        "\n\nOne two\n": "text",
    }
    for i, (content, expected) in enumerate(cases.items()):
        path = tmp_path / f"in{i}.txt"
        path.write_text(content)
        assert ner_format(path, NER_LABELS, "auto") == expected, content
    sentences, has_gold = inputs.read_ner_input(tmp_path / "in4.txt", NER_LABELS)
    assert not has_gold and [(s.tokens, s.line) for s in sentences] == [(["One", "two"], 3)]
    (tmp_path / "in0.txt").write_text("-DOCSTART- -X- O O\n\nEU B-ORG\n")
    with pytest.raises(ValueError, match=r"in0.txt:3: expected 4 space-separated columns"):
        inputs.read_ner_input(tmp_path / "in0.txt", NER_LABELS)


# --- the input's form, judged from the whole file (no model needed) ----------------------------------------
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # a tag outside the label set on the first line: was read as text, each column a "word"
        ("EU B-FOO\nrejects O\n", "{path}:1: tag 'B-FOO' is not in the label set"),
        ("EU\nrejects O\nGerman B-MISC\n", "{path}:1: a CoNLL line needs at least 2 columns"),
        ("EU S-ORG\nrejects O\n", "{path}:1: tag 'S-ORG' is not in the label set"),  # IOBES, not ours
        ('{"version": "v2.0", "data": []}', "{path}: " + NER_GIVEN_JSON),
        ("[1, 2]\n", "{path}: " + NER_GIVEN_JSON),
    ],
)
def test_ner_input_that_does_not_fit_is_refused_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "input.txt"
    path.write_text(content)
    with pytest.raises(ValueError) as err:
        predict.read_input("ner", path, NER_LABELS)
    assert str(err.value).startswith(expected.format(path=path)), str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("content", "tokens"),
    [
        ("I got an O\nEU rejects German call\nThe cat sat\n", ["I", "got", "an", "O"]),  # text, not CoNLL
        ("[Applause] thanks\n", ["[Applause]", "thanks"]),  # opens like JSON, is text
    ],
)
def test_text_that_merely_resembles_conll_or_json_stays_text(tmp_path, content, tokens):
    path = tmp_path / "input.txt"
    path.write_text(content)
    sentences, has_gold = predict.read_input("ner", path, NER_LABELS)
    assert not has_gold and sentences[0].tokens == tokens


def test_conll_with_a_bad_line_later_is_still_conll(tmp_path):
    path = tmp_path / "input.conll"
    path.write_text("EU B-ORG\nrejects O\n\nGerman B-MISC\ncall O\nthe cat sat\n")
    with pytest.raises(ValueError, match=rf"^{path}:6: expected 2 space-separated columns"):
        predict.read_input("ner", path, NER_LABELS)


@pytest.mark.parametrize(
    ("content", "looks"),
    [
        ("EU rejects German call\n", "plain text"),
        ("-DOCSTART- O\n\nEU B-ORG\nrejects O\n", "CoNLL token lines (line 1: '-DOCSTART- O')"),
        ("EU B-ORG\nrejects O\n", "CoNLL token lines (line 1: 'EU B-ORG')"),
    ],
)
def test_qa_input_that_is_not_json_is_refused_naming_what_it_looks_like(tmp_path, content, looks):
    path = tmp_path / "input.txt"
    path.write_text(content)
    with pytest.raises(ValueError) as err:
        predict.read_input("qa", path, ())
    assert str(err.value) == f"{path}: {looks}, not JSON; a QA run reads a SQuAD 2.0 JSON file"
    path.write_text('{"data": [')  # JSON with a syntax error: the JSON reader names its line
    with pytest.raises(ValueError, match=rf"^{path}:1:11: not valid JSON"):
        predict.read_input("qa", path, ())
