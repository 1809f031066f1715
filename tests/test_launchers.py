"""Launchers and sweepers run real jobs offline: joblib, submitit (local), Optuna, a W&B sweep's command."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, entry_env, read_metrics, run_entry

pytestmark = pytest.mark.slow  # run.py in subprocesses

TINY = [
    "task=ner",
    "model=tiny",
    "data.n_train=40",
    "data.n_val=17",
    "data.n_test=15",
    "trainer.max_epochs=1",
    "logger=none",
]


def _jobs(sweep):
    return sorted(p for p in sweep.iterdir() if (p / ".hydra").is_dir())


def _scores_by_seed(sweep) -> dict[int, dict[str, float]]:
    """Each job's val/ and test/ metrics, keyed by its data.seed (the swept key)."""
    out = {}
    for job in _jobs(sweep):
        seed = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["data"]["seed"]
        out[seed] = {k: v for k, v in read_metrics(job).items() if k.startswith(("val/", "test/"))}
    return out


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory):
    """The reference: the same two jobs (data.seed=1,2) run one after the other by Hydra's basic launcher."""
    cwd = tmp_path_factory.mktemp("basic")
    run_entry(["-m", "data.seed=1,2", *TINY, f"hydra.sweep.dir={cwd / 'sweep'}"], cwd=cwd)
    return _scores_by_seed(cwd / "sweep")


def assert_same_jobs_as_basic(sweep, basic_sweep) -> None:
    """A launcher ran each job as the basic launcher does: the same metrics, job by job. Exactly on F1 and
    counts; to 1e-6 on the rest, since joblib's workers run with fewer threads (another summation order)."""
    scores = _scores_by_seed(sweep)
    assert sorted(scores) == sorted(basic_sweep) == [1, 2]
    assert scores[1] != scores[2]  # the jobs trained on their own data, and the comparison can tell
    for seed, expected in basic_sweep.items():
        assert scores[seed] == pytest.approx(expected, rel=1e-6, abs=1e-9), seed
        assert scores[seed]["test/f1"] == expected["test/f1"]


def test_joblib_jobs_at_once_on_a_cold_cache_each_train_on_their_own_data(tmp_path, basic_sweep):
    sweep = tmp_path / "sweep"
    # Two jobs start together, each needing a synthetic data set that does not exist yet.
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "data.seed=1,2", *TINY]
    run_entry([*args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    jobs = _jobs(sweep)
    assert len(jobs) == 2
    caches = sorted((tmp_path / "data" / "conll_synthetic").glob("*/params.json"))
    assert sorted(json.loads(p.read_text())["seed"] for p in caches) == [1, 2]
    for job in jobs:
        seed = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["data"]["seed"]
        # the job's predictions are of its own data set: the tokens of its seed's test file
        own = next(p.parent for p in caches if json.loads(p.read_text())["seed"] == seed)
        words = [line.split()[0] for line in (own / "eng.testb").read_text().splitlines() if line.split()]
        predicted = [
            line.split()[0] for line in (job / "predictions_test.conll").read_text().splitlines() if line
        ]
        assert predicted == [w for w in words if w != "-DOCSTART-"]
    assert_same_jobs_as_basic(sweep, basic_sweep)


def test_joblib_sweep_through_the_module_entry_the_claims_runner_uses(tmp_path, basic_sweep):
    # `python -m labelsmooth.cli.train` is __main__: joblib pickles its functions by value, so what they
    # reference must pickle (torch.utils.deterministic does not: it lives in run/kernel_flags.py).
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "data.seed=1,2", *TINY]
    args += [f"paths.root_dir={ROOT}", f"paths.data_dir={tmp_path / 'data'}", f"hydra.sweep.dir={sweep}"]
    cmd = [sys.executable, "-m", "labelsmooth.cli.train", *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=entry_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_jobs_as_basic(sweep, basic_sweep)


def test_submitit_local_launcher_runs_a_sweep(tmp_path, basic_sweep):
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        "data.seed=1,2",
        *TINY,
    ]
    run_entry([*args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert_same_jobs_as_basic(sweep, basic_sweep)


def test_slurm_launcher_config_composes_with_ddp(tmp_path):
    out = run_entry(
        ["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "--cfg", "all", "--resolve"],
        cwd=tmp_path,
    ).stdout
    launcher = yaml.safe_load(out)["hydra"]["launcher"]
    assert launcher["gpus_per_node"] == 4 and launcher["tasks_per_node"] == 4
    assert launcher["max_num_timeout"] > 0 and launcher["_target_"].endswith("SlurmLauncher")


def test_optuna_search_is_stored_and_continues(tmp_path):
    search = ["-m", "hparams_search=gls_optuna", *TINY]
    run_entry([*search, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path / 'first'}"], cwd=tmp_path)
    results = yaml.safe_load((tmp_path / "first" / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"smoothing.alpha", "smoothing.sigma"}
    overrides = yaml.safe_load((tmp_path / "first" / "0" / ".hydra" / "overrides.yaml").read_text())
    assert {o.split("=")[0] for o in overrides} >= {"smoothing.alpha", "smoothing.sigma"}
    # The same command again adds trials to the same study (a SQLite file where run.py was launched).
    run_entry([*search, "hydra.sweeper.n_trials=1", f"hydra.sweep.dir={tmp_path / 'again'}"], cwd=tmp_path)
    # Keyed by task, model and data source: another model or data set searched here gets a study of its own.
    with sqlite3.connect(tmp_path / "gls_optuna_ner_tiny_conll_synthetic.db") as db:
        (n_trials,) = db.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()
    assert n_trials == 3


def test_wandb_sweep_file_gives_a_command_that_runs(tmp_path):
    from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

    sweep = yaml.safe_load((ROOT / "experiments" / "wandb" / "gls_grid.yaml").read_text())
    # The agent's arguments for the grid's first point, made by W&B's own code.
    point = {
        k: {"value": v.get("value", (v.get("values") or [None])[0])} for k, v in sweep["parameters"].items()
    }
    args = create_sweep_command_args({"args": point})["args_no_hyphens"]
    command = create_sweep_command(sweep["command"])
    assert command[-1] == "${args_no_hyphens}" and sweep["program"] == "run.py"
    tiny = [a for a in TINY if not a.startswith("task=")]
    run_entry([*args, *tiny, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    config = yaml.safe_load((tmp_path / "run" / ".hydra" / "config.yaml").read_text())
    assert config["smoothing"]["alpha"] == 0.05 and config["smoothing"]["sigma"] == 0.5
    assert "test/f1" in read_metrics(tmp_path / "run")


def test_slurm_with_ddps_all_devices_stops_with_one_line_before_any_job(tmp_path):
    """`trainer=ddp` means all of a machine's GPUs (devices -1), which gpus_per_node and tasks_per_node
    would pass on to sbatch as -1."""
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=slurm", "trainer=ddp", *TINY, f"hydra.sweep.dir={sweep}"]
    proc = run_entry(args, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "hydra.launcher.gpus_per_node=-1: SLURM needs a number of GPUs" in proc.stderr, proc.stderr[-2000:]
    assert not sweep.exists()
