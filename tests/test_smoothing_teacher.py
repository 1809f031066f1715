"""KD teachers: checked before any data is read (finished runs, readable weights-only files of the student's
task), loaded frozen by train.py (labelsmooth.run.trained) and handed to the Distillation smoothing."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from test_smoothing_callback import OtherTask, SmoothingCallback, ToyModule, fit, loader, logged, save_teacher

from labelsmooth.run.trained import check_teacher, load_teacher
from labelsmooth.smoothing import Distillation


class RunsCode:
    """A pickle payload that runs a shell command when unpickled by a full (not weights-only) load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory) -> Path:
    """A finished run directory of the toy task with a real Lightning checkpoint."""
    root = tmp_path_factory.mktemp("runs")
    return Path(save_teacher(ToyModule, root, "teacher_run")).parents[1]


def refused(teacher: Path | str) -> str:
    with pytest.raises(ValueError) as err:
        check_teacher(str(teacher), ToyModule)
    message = str(err.value)
    assert message.startswith("smoothing.teacher: ") and "\n" not in message, message
    assert err.value.__cause__ is None and err.value.__context__ is None  # torch's long text stays out
    return message


def test_a_finished_run_and_its_checkpoints_are_accepted(teacher_run, tmp_path):
    best = teacher_run / "checkpoints" / "best.ckpt"
    assert check_teacher(str(teacher_run), ToyModule).path == best
    assert check_teacher(str(best), ToyModule).path == best
    elsewhere = tmp_path / "teacher.ckpt"  # outside a run's checkpoints/: accepted as is
    shutil.copy(best, elsewhere)
    source = check_teacher(str(elsewhere), ToyModule)
    assert (source.path, source.task_name) == (elsewhere, "toy")
    assert source.model == {"n_in": 4, "sizes": [3], "pretrained": False}  # saved with pretrained=True


def test_an_unfinished_run_is_refused(teacher_run, tmp_path):
    run = tmp_path / "interrupted"
    shutil.copytree(teacher_run / "checkpoints", run / "checkpoints")  # no metrics.json: killed mid-run
    expected = (
        f"smoothing.teacher: {run} is not a finished run (no metrics.json; interrupted or still running?)"
    )
    assert refused(run) == expected
    assert refused(run / "checkpoints" / "best.ckpt") == expected


@pytest.mark.parametrize("case", ["empty", "random bytes", "truncated", "pickle of code", "zip of code"])
def test_an_unreadable_or_unsafe_checkpoint_is_refused_in_one_line(teacher_run, tmp_path, case):
    path, marker = tmp_path / "teacher.ckpt", tmp_path / "code_ran"
    real = (teacher_run / "checkpoints" / "best.ckpt").read_bytes()
    if case == "empty":
        path.touch()
    elif case == "random bytes":
        path.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    elif case == "truncated":
        path.write_bytes(real[: len(real) // 2])
    elif case == "pickle of code":
        path.write_bytes(pickle.dumps({"state_dict": {}, "task_name": "toy", "x": RunsCode(marker)}))
    else:  # torch's own zip format around the same payload: the weights-only unpickler must refuse it
        torch.save({"state_dict": {}, "task_name": "toy", "x": RunsCode(marker)}, path)
    message = refused(path)
    assert message.startswith(f"smoothing.teacher: {path} is not a readable checkpoint ("), message
    if case == "zip of code":
        assert "global posix.system" in message
    assert not marker.exists(), "loading the teacher ran code from the checkpoint"


def test_a_checkpoint_without_a_task_is_refused(tmp_path):
    path = tmp_path / "weights.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    assert (
        refused(path)
        == f"smoothing.teacher: {path} is not a task checkpoint of this project (no 'task_name')"
    )
    torch.save([torch.zeros(2)], path)
    assert "is not a task checkpoint of this project (no 'state_dict')" in refused(path)


def test_kd_teacher_is_loaded_frozen_and_kept_out_of_the_student(tmp_path):
    ckpt = save_teacher(ToyModule, tmp_path, "teacher_run")
    info = check_teacher(str(tmp_path / "teacher_run"), ToyModule)  # a run directory resolves to best.ckpt
    assert str(info.path) == ckpt
    kd = Distillation(2.0, 0.5, str(tmp_path / "teacher_run"))
    kd.set_teacher(load_teacher(info, ToyModule))
    student = ToyModule()
    fresh_keys = set(ToyModule().state_dict())
    trainer = fit(student, [SmoothingCallback(kd)], tmp_path / "student")
    teacher = kd.teacher_module
    assert isinstance(teacher, ToyModule) and teacher is not student
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    saved = torch.load(ckpt, weights_only=True)["state_dict"]
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, saved[key]), f"teacher weight {key} changed during distillation"
    assert set(student.state_dict()) == fresh_keys
    student_params = {id(p) for p in student.parameters()}
    assert not any(id(p) in student_params for p in teacher.parameters())
    rows = [r for r in logged(trainer) if r.get("smoothing/weight")]
    assert [float(r["smoothing/temperature"]) for r in rows] == [2.0] * 6
    # The teacher's logits are its own, for the student's batch.
    batch = next(iter(loader()))
    torch.testing.assert_close(kd.teacher_logits(batch)[0], teacher.layer(batch["x"]))


def test_only_a_frozen_teacher_is_accepted(tmp_path):
    kd = Distillation(2.0, 0.5, "any")
    with pytest.raises(ValueError, match="expected a frozen module"):
        kd.set_teacher(ToyModule())  # in training mode, with trainable parameters
    with pytest.raises(RuntimeError, match="no teacher"):
        kd.teacher_logits(next(iter(loader())))


def test_a_run_directory_resolves_to_its_scored_checkpoint_only(tmp_path):
    """No fallback: the checkpoint metrics.json was computed from, with its SHA-256, or a refusal."""
    ckpt = Path(save_teacher(ToyModule, tmp_path, "run"))
    run, last, metrics = tmp_path / "run", ckpt.parent / "last.ckpt", tmp_path / "run" / "metrics.json"
    shutil.copy(ckpt, last)
    assert check_teacher(str(run), ToyModule).path == ckpt
    with pytest.raises(
        ValueError, match=r"last.ckpt is not the checkpoint .* was computed from \(best.ckpt\)"
    ):
        check_teacher(str(last), ToyModule)
    scored = json.loads(metrics.read_text())
    metrics.write_text(json.dumps({k: v for k, v in scored.items() if k != "best_checkpoint_sha256"}))
    with pytest.raises(ValueError, match="names no scored checkpoint with its SHA-256"):
        check_teacher(str(run), ToyModule)
    metrics.write_text(json.dumps(scored))
    ckpt.unlink()  # a deleted best.ckpt: no falling back to last.ckpt
    with pytest.raises(ValueError, match=r"best.ckpt, the checkpoint .* was computed from, is missing"):
        check_teacher(str(run), ToyModule)


def test_a_teacher_of_another_task_is_refused(tmp_path):
    ckpt = save_teacher(OtherTask, tmp_path, "other_run")
    assert refused(ckpt) == f"smoothing.teacher: {ckpt} is a checkpoint of task 'other', expected 'toy'"


def test_a_missing_or_empty_teacher_is_refused_in_one_line(tmp_path):
    assert (
        refused(tmp_path / "nope") == f"smoothing.teacher: no checkpoint or run directory at {tmp_path}/nope"
    )
    for empty in (None, "", "  "):
        with pytest.raises(ValueError, match=r"^smoothing.teacher: required for kd"):
            Distillation(2.0, 0.5, empty)


def test_a_teacher_is_rebuilt_without_pretrained_weights(tmp_path):
    ckpt = save_teacher(ToyModule, tmp_path, "teacher_run")
    assert torch.load(ckpt, weights_only=True)["hyper_parameters"]["model"]["pretrained"] is True
    teacher = load_teacher(check_teacher(ckpt, ToyModule), ToyModule)
    # The state_dict overwrites the weights anyway: the teacher must not fetch or read pretrained ones.
    assert teacher.hparams["model"] == {"n_in": 4, "sizes": [3], "pretrained": False}
