"""Run folders you can trust (run.py in subprocesses): any crash resumable from the newest last.ckpt, logs
continued across a resume, one run per folder, a finished result never mixed with another run's files."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket

import pytest
import torch
from conftest import read_metrics, run_entry
from filelock import FileLock
from wandb_offline import read_run

pytestmark = pytest.mark.slow  # run.py in subprocesses
TWO = ["trainer.max_epochs=2"]

# Four training batches an epoch; every step logged. Two epochs unless a test says otherwise.
NER = [
    "task=ner",
    "model=tiny",
    "data.n_train=100",
    "data.n_val=16",
    "data.n_test=16",
    "trainer.log_every_n_steps=1",
    "task.monitor=val/nll",
    "task.mode=min",
]


def _scores(run) -> dict[str, float]:
    return {k: v for k, v in read_metrics(run).items() if k.startswith(("val/", "test/"))}


def _rows(run) -> list[dict[str, str]]:
    with (run / "csv" / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The uninterrupted run (W&B offline and CSV) every drill is compared with."""
    folder = tmp_path_factory.mktemp("whole")
    run_entry([*NER, *TWO, "logger=wandb", f"hydra.run.dir={folder / 'run'}"], cwd=folder)
    return folder / "run"


def test_sigkill_after_a_periodic_save_resumes_from_it_to_the_same_metrics(tmp_path, whole):
    """No handler runs on SIGKILL: what survives is the newest last.ckpt. Saves at steps 3 (periodic), 4
    (epoch end) and 6 (periodic, mid-epoch 1); the kill comes after step 7. The resumed run redoes step 7
    and ends bit-exact."""
    args = [
        *NER,
        *TWO,
        "logger=csv",
        "callbacks.exact_resume.every_n_steps=3",
        f"hydra.run.dir={tmp_path / 'cut'}",
    ]
    killed = run_entry(
        [*args, "+callbacks.kill._target_=drills.SigkillAtStep", "+callbacks.kill.step=7"],
        cwd=tmp_path,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    last = torch.load(tmp_path / "cut" / "checkpoints" / "last.ckpt", weights_only=True, mmap=True)
    assert last["global_step"] == 6 and not (tmp_path / "cut" / "metrics.json").exists()
    run_entry([*args, "ckpt_path=last"], cwd=tmp_path)
    assert _scores(tmp_path / "cut") == _scores(whole)


def test_ctrl_c_saves_at_the_step_and_the_resume_is_exact_and_logs_on(tmp_path, whole):
    """Ctrl-C (SIGINT) mid-epoch 1: last.ckpt at that step, exit 130; the resumed run's CSV log holds every
    row of the uninterrupted run's, in order (the stopped run's rows kept, none twice), and its W&B run is
    the stopped run's own (one job, one run id)."""
    cut = tmp_path / "cut"
    args = [*NER, *TWO, "logger=wandb", f"hydra.run.dir={cut}"]
    drill = [
        "+callbacks.drill._target_=drills.SigtermAtStep",
        "+callbacks.drill.step=6",
        f"+callbacks.drill.signum={int(signal.SIGINT)}",
    ]
    stopped = run_entry([*args, *drill], cwd=tmp_path, check=False)
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert torch.load(cut / "checkpoints" / "last.ckpt", weights_only=True, mmap=True)["global_step"] == 6
    rows_before = len(_rows(cut))
    run_entry([*args, "ckpt_path=last"], cwd=tmp_path)
    assert _scores(cut) == _scores(whole)
    assert 0 < rows_before < len(_rows(cut)) and _rows(cut) == _rows(whole)
    runs = [read_run(d) for d in sorted((cut / "wandb").glob("offline-run-*"))]
    assert (
        len(runs) == 2
        and runs[0]["id"] == runs[1]["id"] != read_run(next((whole / "wandb").glob("offline-run-*")))["id"]
    )
    assert runs[1]["summary"]["test/f1"] == pytest.approx(read_metrics(cut)["test/f1"], abs=1e-4)


def test_a_folder_locked_by_a_running_job_refuses_a_second_run(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    with FileLock(str(folder / ".run.lock")):  # held as a running job holds it
        (folder / ".run.owner").write_text(f"pid 4242 on {socket.gethostname()} since then: run.py …\n")
        proc = run_entry([*NER, "logger=none", f"hydra.run.dir={folder}"], cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert f"run folder {folder}: another run is using it (pid 4242 on" in proc.stderr
    assert not (folder / "checkpoints").exists()


def test_a_new_run_never_writes_into_a_finished_folder_and_rerun_moves_it_aside(tmp_path, whole):
    folder = tmp_path / "run"
    args = [*NER, "logger=none", "trainer.max_epochs=1", f"hydra.run.dir={folder}"]
    run_entry(args, cwd=tmp_path)
    first = (folder / "metrics.json").read_text()
    config = (folder / ".hydra" / "config.yaml").read_text()
    refused = run_entry([*args, "seed=7"], cwd=tmp_path, check=False)
    assert refused.returncode != 0 and "holds a finished result (metrics.json)" in refused.stderr
    # nothing of the finished run was touched, not even its config
    assert (folder / "metrics.json").read_text() == first
    assert (folder / ".hydra" / "config.yaml").read_text() == config
    run_entry([*args, "seed=7", "rerun=true"], cwd=tmp_path)
    (old,) = (folder / "superseded").iterdir()
    assert (old / "metrics.json").read_text() == first and (
        old / "hydra" / "config.yaml"
    ).read_text() == config
    assert read_metrics(folder)["run"]["seed"] == 7


def test_a_resume_with_a_changed_learning_rate_stops_naming_it(tmp_path):
    folder = tmp_path / "run"
    args = [*NER, "logger=none", "trainer.max_epochs=1", f"hydra.run.dir={folder}"]
    run_entry(args, cwd=tmp_path)
    changed = run_entry([*args, "ckpt_path=last", "task.module.optimizer.lr=1e-3"], cwd=tmp_path, check=False)
    assert changed.returncode != 0
    assert "task.module.optimizer.lr (5e-05 → 0.001)" in changed.stderr
    assert (folder / "metrics.json").is_file()  # refused before it touched the folder
    # more epochs change the LR schedule: a change to mean (resume_changed=true); the resume first removes
    # the old result, then writes its own
    more = [a for a in args if not a.startswith("trainer.max_epochs=")]
    longer = run_entry([*more, "ckpt_path=last", "trainer.max_epochs=2"], cwd=tmp_path, check=False)
    assert longer.returncode != 0 and "trainer.max_epochs (1 → 2)" in longer.stderr
    run_entry([*more, "ckpt_path=last", "trainer.max_epochs=2", "resume_changed=true"], cwd=tmp_path)
    assert torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True, mmap=True)["global_step"] == 8
    run_entry(
        [
            *more,
            "ckpt_path=last",
            "trainer.max_epochs=3",
            "task.module.optimizer.lr=1e-3",
            "resume_changed=true",
        ],
        cwd=tmp_path,
    )


def test_predict_refuses_a_best_checkpoint_that_metrics_json_does_not_describe(tmp_path):
    from labelsmooth.run.trained import load_task_module

    folder = tmp_path / "run"
    run_entry([*NER, "logger=none", "trainer.max_epochs=1", f"hydra.run.dir={folder}"], cwd=tmp_path)
    load_task_module(folder, "run")  # the run's own: accepted
    best = folder / "checkpoints" / "best.ckpt"
    state = torch.load(best, weights_only=True)
    state["state_dict"] = {k: v + 1 for k, v in state["state_dict"].items()}  # another run's weights
    torch.save(state, best)
    with pytest.raises(ValueError, match="is not the checkpoint .*metrics.json was computed from"):
        load_task_module(folder, "run")


def test_a_truncated_cache_file_is_named_and_rebuilt(tmp_path):
    args = [*NER, "logger=none", "trainer.max_epochs=1"]
    run_entry([*args, f"hydra.run.dir={tmp_path / 'a'}"], cwd=tmp_path)
    (features,) = {
        p
        for p in (tmp_path / "data" / "features").glob("*/features.pt")
        if "train" in json.loads((p.parent / "params.json").read_text())["split"]
    }
    features.write_bytes(features.read_bytes()[:100])
    second = run_entry([*args, f"hydra.run.dir={tmp_path / 'b'}"], cwd=tmp_path)
    assert f"{features.parent}: the cached files do not load" in second.stdout + second.stderr
    assert _scores(tmp_path / "a") == _scores(tmp_path / "b")


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_results_and_checkpoints_get_the_users_umask(tmp_path, umask):
    folder = tmp_path / "run"
    old = os.umask(umask)
    try:
        run_entry([*NER, "logger=none", "trainer.max_epochs=1", f"hydra.run.dir={folder}"], cwd=tmp_path)
    finally:
        os.umask(old)
    for path in (
        folder / "metrics.json",
        folder / "checkpoints" / "best.ckpt",
        folder / "checkpoints" / "last.ckpt",
    ):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path
