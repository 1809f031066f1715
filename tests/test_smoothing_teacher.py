"""KD teachers are checked at config instantiation: finished runs only, readable weights-only files."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from test_smoothing_callback import ToyModule, save_teacher

from labelsmooth.smoothing import Distillation
from labelsmooth.smoothing.teacher import read_teacher

SMOOTHING_SRC = Path(__file__).resolve().parents[1] / "src" / "labelsmooth" / "smoothing"


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
        Distillation(2.0, 0.5, str(teacher))
    message = str(err.value)
    assert message.startswith("smoothing.teacher: ") and "\n" not in message, message
    assert err.value.__cause__ is None and err.value.__context__ is None  # torch's long text stays out
    return message


def test_a_finished_run_and_its_checkpoints_are_accepted(teacher_run, tmp_path):
    best = teacher_run / "checkpoints" / "best.ckpt"
    assert Distillation(2.0, 0.5, str(teacher_run)).checkpoint == best
    assert Distillation(2.0, 0.5, str(best)).checkpoint == best
    elsewhere = tmp_path / "teacher.ckpt"  # outside a run's checkpoints/: accepted as is
    shutil.copy(best, elsewhere)
    source = read_teacher(str(elsewhere))
    assert (source.path, source.task_name) == (elsewhere, "toy")
    assert source.model == {"n_in": 4, "sizes": [3], "pretrained": False}  # saved with pretrained=True


def test_an_unfinished_run_is_refused(teacher_run, tmp_path):
    run = tmp_path / "interrupted"
    shutil.copytree(teacher_run / "checkpoints", run / "checkpoints")  # no metrics.json: killed mid-run
    expected = f"smoothing.teacher: {run} is not a finished run (no metrics.json; interrupted?)"
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


def test_the_smoothing_package_never_loads_with_weights_only_false():
    for source in SMOOTHING_SRC.glob("*.py"):
        assert "weights_only=False" not in source.read_text(), source.name
