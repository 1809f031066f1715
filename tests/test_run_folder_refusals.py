"""A run refused from a folder (busy, or holding another run's result) writes nothing there; `rerun=true`
moves a folder's content aside only under its lock, and never a checkpoint the run is about to read."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

import pytest
from conftest import ROOT, entry_command, entry_env, run_entry
from filelock import FileLock

pytestmark = pytest.mark.slow  # run.py in subprocesses

NER = ["task=ner", "model=tiny", "data.n_train=48", "data.n_val=16", "data.n_test=16", "logger=none"]
ONE = ["trainer.max_epochs=1"]


def _files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run, copied fresh for each test that needs one."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    run_entry([*NER, *ONE, f"hydra.run.dir={folder}"], cwd=folder.parent)
    return folder


def test_rerun_into_a_live_folder_is_refused_naming_the_holder_and_moves_nothing(tmp_path, finished):
    folder = shutil.copytree(finished, tmp_path / "run")
    (folder / "metrics.json").unlink()  # as a run still training: last.ckpt, no result yet
    before = _files(folder)
    with FileLock(str(folder / ".run.lock")):
        (folder / ".run.owner").write_text(f"pid 4242 on {socket.gethostname()} since then: run.py …\n")
        proc = run_entry([*NER, *ONE, "rerun=true", f"hydra.run.dir={folder}"], cwd=tmp_path, check=False)
        holder = (folder / ".run.owner").read_bytes()
    assert proc.returncode != 0
    assert f"run folder {folder}: another run is using it (pid 4242 on" in proc.stderr
    after = _files(folder)
    assert after.pop(".run.owner") == holder and after == before  # not a file moved, not .hydra rewritten
    assert not (folder / "superseded").exists()


def test_a_busy_folder_refuses_a_resume_before_hydra_writes_into_it(tmp_path, finished):
    folder = shutil.copytree(finished, tmp_path / "run")
    before = _files(folder)
    with FileLock(str(folder / ".run.lock")):
        proc = run_entry([*NER, *ONE, "ckpt_path=last", f"hydra.run.dir={folder}"], cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "another run is using it" in proc.stderr
    assert _files(folder) == before


def test_rerun_never_moves_away_the_checkpoint_it_is_asked_to_evaluate(tmp_path, finished):
    folder = shutil.copytree(finished, tmp_path / "run")
    before = _files(folder)
    best = folder / "checkpoints" / "best.ckpt"
    args = [*NER, "train=false", f"ckpt_path={best}", "rerun=true", f"hydra.run.dir={folder}"]
    proc = run_entry(args, cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert f"rerun=true: ckpt_path={best} lies inside the run folder {folder}" in proc.stderr
    assert _files(folder) == before


def test_a_multirun_job_refused_from_a_finished_folder_leaves_its_files_as_they_were(tmp_path):
    sweep = tmp_path / "sweep"
    run_entry(["-m", *NER, *ONE, "seed=1", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    metrics = (sweep / "0" / "metrics.json").read_bytes()
    config = (sweep / "0" / ".hydra" / "config.yaml").read_bytes()
    proc = run_entry(["-m", *NER, *ONE, "seed=3", f"hydra.sweep.dir={sweep}"], cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "holds a finished result (metrics.json)" in proc.stdout + proc.stderr
    assert (sweep / "0" / "metrics.json").read_bytes() == metrics
    assert not (sweep / "0" / "error.txt").exists()
    # Hydra wrote the refused job's config there before the lab ran: the run's own is put back
    assert (sweep / "0" / ".hydra" / "config.yaml").read_bytes() == config


@pytest.mark.parametrize(
    ("override", "key"),
    [
        (f"hydra.run.dir={ROOT / 'src' / 'labelsmooth' / 'x'}", "hydra.run.dir"),
        (f"hydra.run.dir={ROOT}", "hydra.run.dir"),
        (f"hydra.sweep.dir={ROOT}", "hydra.sweep.dir"),
    ],
)
def test_a_run_folder_inside_the_package_or_at_the_checkouts_root_is_refused(tmp_path, override, key):
    multirun = ["-m"] if key == "hydra.sweep.dir" else []
    proc = run_entry([*multirun, *NER, "debug=fast", override], cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert f"{override}: a run folder inside the project's own code or at the checkout's root" in proc.stderr
    assert not (ROOT / "src" / "labelsmooth" / "x").exists() and not (ROOT / ".hydra").exists()


def test_a_control_character_in_a_launcher_value_stops_before_any_script_is_written(tmp_path):
    """A newline in a value submitit writes into the sbatch script would run the rest as a shell line on the
    node (and drop the #SBATCH lines after it); Hydra's parser refuses it typed, not through `${oc.env:…}`."""
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=slurm", "hydra.launcher.partition=${oc.env:PART}", *NER, "debug=fast"]
    env = entry_env() | {"PART": "lab\necho pwned"}
    proc = subprocess.run(
        entry_command([*args, f"hydra.sweep.dir={sweep}"]),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "hydra.launcher.partition='lab\\necho pwned': holds a control character" in proc.stderr
    assert not sweep.exists()


def test_an_unwritable_wandb_folder_stops_the_run_before_training(tmp_path):
    """W&B stages files under HOME (WANDB_DATA_DIR): unwritable there, a run used to train and test to the
    end and then fail at W&B's first staging write, losing its result."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where W&B wants a folder")
    run = tmp_path / "run"
    env = entry_env() | {"WANDB_DATA_DIR": str(blocker / "wandb")}
    proc = subprocess.run(
        entry_command([*NER[:-1], *ONE, "logger=wandb", f"hydra.run.dir={run}"]),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert f"logger.wandb: W&B's staging folder (WANDB_DATA_DIR) {blocker / 'wandb'} cannot be written" in (
        proc.stderr
    )
    assert not (run / "checkpoints").exists()  # stopped before any training


def test_a_multirun_rerun_files_the_earlier_runs_config_and_log_and_keeps_its_own(tmp_path):
    """In a multirun Hydra writes the new job's `.hydra/` and opens its run.log before the lab runs: the
    superseded run keeps its own config (the copy it kept) and log; the new job logs into its folder."""
    sweep = tmp_path / "sweep"
    args = ["-m", *NER, *ONE, f"hydra.sweep.dir={sweep}"]
    run_entry([*args, "seed=1"], cwd=tmp_path)
    job = sweep / "0"
    old_config, old_log = (job / ".hydra" / "config.yaml").read_text(), (job / "run.log").read_text()
    run_entry([*args, "seed=2", "rerun=true"], cwd=tmp_path)
    (old,) = (job / "superseded").iterdir()
    assert (old / "hydra" / "config.yaml").read_text() == old_config and "seed: 1" in old_config
    assert (old / "run.log").read_text().startswith(old_log)
    assert "seed: 2" in (job / ".hydra" / "config.yaml").read_text()
    assert "metrics:" in (job / "run.log").read_text() and old_log not in (job / "run.log").read_text()
    assert json.loads((job / "metrics.json").read_text())["run"]["seed"] == 2
