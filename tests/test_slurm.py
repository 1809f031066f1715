"""`hydra/launcher=slurm` on a real one-node SLURM (tests/slurm_cluster.py): each job of a sweep gives its
local metrics; a requeued job and one longer than its time limit resume themselves bit-exactly; failed and
cancelled jobs are listed and fail the multirun; SLURM starts a job's DDP ranks.

Every job is the same tiny NER run on CPU, one epoch of 25 steps (batches of 4), so a job can be stopped
mid-epoch. `reference` runs it locally (no launcher) once per set of overrides. Jobs that must last are
paced by tests/support/slurm_drills.Pace (a sleep per step: no CPU, same numbers) and report their step.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import entry_env, read_metrics, run_entry, start_entry
from slurm_cluster import Cluster, Unavailable, cluster

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

JOB = [
    "task=ner",
    "model=tiny",
    "data.n_train=100",
    "data.n_val=16",
    "data.n_test=16",
    "task.datamodule.batch_size=4",
    "trainer.max_epochs=1",
    "logger=none",
    "task.monitor=val/nll",
    "task.mode=min",
    "trainer.accelerator=cpu",
]
STEPS = 25  # training steps of JOB: 100 sentences in batches of 4, one epoch


def job(*changes: str) -> list[str]:
    """JOB with `changes` (key=value) in place of its own values for those keys, or added: a key given twice
    on the command line stops run.py."""
    keys = {change.split("=", 1)[0] for change in changes}
    return [o for o in JOB if o.split("=", 1)[0] not in keys] + list(changes)


def pace(seconds: float) -> list[str]:
    return ["+callbacks.pace._target_=slurm_drills.Pace", f"+callbacks.pace.seconds={seconds}"]


def launcher(slurm: Cluster, timeout_min: int = 10, tasks: int = 1) -> list[str]:
    """The lab's SLURM preset on this CPU node: `tasks` tasks of one CPU each, no GPU, no memory request."""
    return [
        "hydra/launcher=slurm",
        f"hydra.launcher.partition={slurm.partition}",
        "hydra.launcher.gpus_per_node=0",
        "hydra.launcher.cpus_per_task=1",
        f"hydra.launcher.tasks_per_node={tasks}",
        f"hydra.launcher.timeout_min={timeout_min}",
    ]


def scores(run: Path) -> dict[str, float]:
    return {k: v for k, v in read_metrics(run).items() if k.startswith(("val/", "test/"))}


@pytest.fixture(scope="module")
def slurm() -> Iterator[Cluster]:
    # A short folder of its own: it holds Unix sockets (at most 107 bytes a path).
    folder = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
    stack = ExitStack()
    stack.callback(lambda: subprocess.run(["rm", "-rf", str(folder)], check=False))
    try:
        c = stack.enter_context(cluster(folder))
    except Unavailable as reason:
        stack.close()
        pytest.skip(f"no SLURM cluster here: {reason}")
    # Shown with -s, and in the report of a failing test.
    print(f"SLURM: apt-get install {c.installed_s:.0f}s, daemons up in {c.started_s:.1f}s", file=sys.stderr)
    with stack:
        yield c


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """One working directory for every run, so the synthetic data and features are made once."""
    return tmp_path_factory.mktemp("slurm-work")


@pytest.fixture(scope="module")
def reference(work) -> Callable[..., Path]:
    """JOB plus `extra` run locally (run.py without a launcher), once per `extra`: the uninterrupted job."""
    runs: dict[tuple[str, ...], Path] = {}

    def get(*extra: str) -> Path:
        if extra not in runs:
            folder = work / f"reference-{len(runs)}"
            run_entry([*job(*extra), f"hydra.run.dir={folder}"], cwd=work)
            runs[extra] = folder
        return runs[extra]

    return get


@dataclass
class Multirun:
    """`python run.py -m …` in the background: its jobs run on SLURM while a test acts on them."""

    slurm: Cluster
    sweep: Path
    proc: subprocess.Popen
    err: str = ""  # the multirun's stderr, once it ended

    def jobs(self) -> dict[int, str]:
        """SLURM's id of each submitted job by its number, from submitit's log folders: a sweep is one job
        array (`<array>_<num>`, beside a folder `<array>`), a single job a plain one (`<id>`)."""
        names = [f.name for f in (self.sweep / ".submitit").glob("*") if f.is_dir()]
        array = {int(m[2]): n for n in names if (m := re.fullmatch(r"(\d+)_(\d+)", n))}
        single = [n for n in names if n.isdigit()]
        return array or ({0: single[0]} if single else {})

    def slurm_id(self, num: int, timeout: float = 60) -> str:
        self.until(lambda: num in self.jobs(), timeout, f"job {num} submitted")
        return self.jobs()[num]

    def logs(self, num: int, lines: int = 40) -> str:
        """The tail of everything job `num` wrote: submitit's stdout/stderr (all allocations) and its log."""
        files = sorted((self.sweep / ".submitit" / self.jobs()[num]).glob("*_log.*"))
        files += sorted((self.sweep / str(num)).glob("*.log"))
        return "\n".join(
            f"--- {f.name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-lines:]) for f in files
        )

    def text(self, num: int) -> str:
        """All of job `num`'s submitit output, every allocation (submitit appends)."""
        files = sorted((self.sweep / ".submitit" / self.jobs()[num]).glob("*_log.*"))
        return "".join(f.read_text(errors="replace") for f in files)

    def until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.fail(f"waited {timeout:.0f}s for {what}")
            time.sleep(0.5)

    def finish(self, timeout: float) -> tuple[int, str]:
        """Exit status and stderr of the multirun (its end-of-sweep report goes there)."""
        try:
            _, self.err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"the multirun still runs after {timeout:.0f}s")
        return self.proc.returncode, self.err

    def fail(self, message: str) -> None:
        """Fail the test with the multirun's stderr, every job's logs and the controller's log tail."""
        if self.proc.stderr and not self.proc.stderr.closed:  # not read yet (communicate closes it)
            self.proc.kill()  # a no-op once it has ended
            _, self.err = self.proc.communicate()
        err = self.err
        logs = "\n".join(self.logs(n) for n in sorted(self.jobs()))
        pytest.fail(
            f"{message}\nqueue: {self.slurm.queue()}\n--- multirun stderr\n{err[-3000:]}\n{logs}\n"
            f"--- slurmctld\n{self.slurm.log_tail('slurmctld', 15)}"
        )


def start(slurm: Cluster, args: list[str], sweep: Path, cwd: Path) -> Multirun:
    """`run.py -m ARGS` with this cluster's SLURM_CONF, W&B offline, tests/support importable (run_entry)."""
    proc = start_entry(["-m", *args, f"hydra.sweep.dir={sweep}"], cwd, env=entry_env(slurm.env))
    return Multirun(slurm, sweep, proc)


def allocations(folder: Path) -> dict[str, list[int]]:
    """The steps each allocation of a job trained, by its SLURM_RESTART_COUNT (slurm_drills.Pace)."""
    steps: dict[str, list[int]] = {}
    path = folder / "steps.txt"
    for line in path.read_text().splitlines() if path.is_file() else []:
        restarts, step = line.split()
        steps.setdefault(restarts, []).append(int(step))
    return steps


def steps_done(folder: Path) -> int:
    """The last training step job folder `folder` reported, 0 before the first."""
    return max((s for steps in allocations(folder).values() for s in steps), default=0)


def test_sweep_jobs_run_on_slurm_and_give_the_local_metrics(slurm, work, reference):
    sweep = work / "sweep-a"
    run = start(slurm, [*launcher(slurm), *job("smoothing=ls,gls")], sweep, work)
    ids = [run.slurm_id(0), run.slurm_id(1)]
    local = {s: reference(f"smoothing={s}") for s in ("ls", "gls")}  # while the SLURM jobs run
    rc, _ = run.finish(timeout=300)
    if rc != 0:
        run.fail(f"the multirun exited {rc}")
    for num, smoothing in enumerate(["ls", "gls"]):
        assert scores(sweep / str(num)) == scores(local[smoothing]), smoothing
        assert slurm.states(ids[num]) == ["COMPLETED"]


def test_requeued_job_resumes_from_its_last_ckpt_bit_exactly(slurm, work, reference):
    """`scontrol requeue` mid-epoch: SIGTERM saves last.ckpt, SLURM restarts the job, which resumes itself
    (SLURM_RESTART_COUNT > 0) and ends with the uninterrupted job's metrics.json, bit for bit."""
    sweep = work / "sweep-b"
    run = start(slurm, [*launcher(slurm), *job("smoothing=ls"), *pace(0.5)], sweep, work)
    folder, jid = sweep / "0", run.slurm_id(0)
    run.until(lambda: steps_done(folder) >= 8, 120, "job 0 to train 8 steps")
    slurm.run("scontrol", "requeue", jid)
    rc, _ = run.finish(timeout=300)
    if rc != 0:
        run.fail(f"the multirun exited {rc}")
    assert slurm.states(jid) == ["REQUEUED", "COMPLETED"]
    steps = allocations(folder)
    assert list(steps) == ["unset", "1"], steps  # SLURM_RESTART_COUNT of each allocation
    first, second = steps["unset"], steps["1"]
    # The second allocation went on after the step the first stopped at (at most the step in flight more):
    # it resumed from a last.ckpt saved on SIGTERM mid-epoch, not from the start or an earlier save.
    assert first[-1] <= second[0] - 1 <= first[-1] + 1 and second[-1] == STEPS, steps
    assert re.search(r"resuming from \S*last\.ckpt", run.text(0)), run.logs(0)
    assert scores(folder) == scores(reference("smoothing=ls"))


def test_job_longer_than_its_time_limit_finishes_over_several_allocations(slurm, work, reference):
    """A one-minute limit and one epoch of 55 s of paced training: slurmctld tests limits on a 30 s tick and
    signals a job up to 30 s early, so with `signal_delay_s=5` submitit's SIGUSR2 comes 25-55 s into an
    allocation (past the job's start-up of ~10 s, and at least 30 s before the kill at the limit). No
    allocation can finish the epoch, so an epoch-end last.ckpt never helps: the job must save last.ckpt at
    the signal; submitit requeues it, and the next allocation resumes. Two allocations are typical; on a slow
    machine the limit of the last one that trains can land in its final evaluation, and a further allocation
    resumes from the epoch-end last.ckpt and only evaluates (seen in CI: three allocations, two trained)."""
    sweep = work / "sweep-c"
    limits = [
        *launcher(slurm, timeout_min=1),
        "hydra.launcher.signal_delay_s=5",
        "hydra.launcher.max_num_timeout=8",
    ]
    run = start(slurm, [*limits, *job("smoothing=ls"), *pace(2.2)], sweep, work)
    folder, jid = sweep / "0", run.slurm_id(0)

    def second_allocation_trains() -> bool:
        return len(allocations(folder)) > 1

    # Fail fast: a second allocation that starts again from step 1 shows that the first left no checkpoint
    # at its time limit, and then no allocation ever gets further than the one before.
    run.until(second_allocation_trains, 240, "a second allocation of the job to train")
    steps = allocations(folder)
    if list(steps.values())[1][0] == 1:
        slurm.run("scancel", jid, check=False)
        run.fail(
            f"the time limit left no checkpoint: the second allocation started from step 1 again {steps}"
        )
    rc, _ = run.finish(timeout=480)
    if rc != 0:
        run.fail(f"the multirun exited {rc}")
    states = slurm.states(jid)
    # The last allocation may itself reach the limit in the second after it wrote its result (a slow
    # machine: start-up, the rest of the epoch and the final evaluation fill most of a minute); SLURM then
    # records that allocation FAILED though the job completed. The result is what is checked below.
    last_ok = states[-1] == "COMPLETED" or (
        states[-1] == "FAILED" and "Job completed successfully" in run.text(0)
    )
    assert len(states) >= 2 and set(states[:-1]) == {"REQUEUED"} and last_ok, states
    steps = allocations(folder)
    # The allocations that trained are the first ones (by SLURM_RESTART_COUNT), at least two; any after them
    # trained nothing, which fits only a job whose training had ended (checked: the last one reached STEPS).
    trained = len(steps)
    assert 2 <= trained <= len(states) and list(steps) == ["unset", *map(str, range(1, trained))], steps
    runs = list(steps.values())
    for before, after in pairwise(runs):  # each went on where the one before stopped
        assert before[-1] <= after[0] - 1 <= before[-1] + 1, steps
    assert runs[-1][-1] == STEPS, steps
    text = run.text(0)
    assert "Caught signal SIGUSR2" in text and "this job is timed-out" in text, run.logs(0)
    assert re.search(r"resuming from \S*last\.ckpt", text), run.logs(0)
    assert scores(folder) == scores(reference("smoothing=ls"))


def test_failed_and_cancelled_jobs_are_listed_and_the_multirun_fails(slurm, work):
    """Job 0 fails inside the job (an α above 1), job 1 is cancelled mid-training with scancel."""
    sweep = work / "sweep-d"
    sweep_args = job("smoothing=ls", "smoothing.alpha=1.5,0.1")
    run = start(slurm, [*launcher(slurm), *sweep_args, *pace(1.0)], sweep, work)
    jid = run.slurm_id(1)
    run.until(lambda: steps_done(sweep / "1") >= 2, 120, "job 1 to train 2 steps")
    slurm.run("scancel", jid)
    rc, err = run.finish(timeout=180)
    assert rc != 0, err[-3000:]
    assert re.search(r"FAILED job 0 \[.*smoothing\.alpha=1\.5.*\]: \w+", err), err[-3000:]
    assert "NO RESULT job 1" in err, err[-3000:]
    assert slurm.states(jid) == ["CANCELLED by 0"]  # by root


def test_two_slurm_tasks_are_the_ranks_of_one_ddp_job(slurm, work, reference):
    """`trainer=ddp_sim` (2 gloo ranks on CPU) with two SLURM tasks: SLURM starts both ranks (Lightning's
    SLURMEnvironment reads them), and the job's metrics are those of its best checkpoint on one process.
    Odd evaluation splits: one rank gets a repeated item that the gathered evaluation must drop."""
    sweep = work / "sweep-e"
    odd = ["data.n_val=17", "data.n_test=15"]
    run = start(slurm, [*launcher(slurm, tasks=2), "trainer=ddp_sim", *job(*odd)], sweep, work)
    jid = run.slurm_id(0)
    rc, _ = run.finish(timeout=300)
    if rc != 0:
        run.fail(f"the multirun exited {rc}")
    folder = sweep / "0"
    metrics = read_metrics(folder)
    assert metrics["run"]["world_size"] == 2
    # Both ranks were SLURM tasks (submitit logs each), none a process Lightning started itself.
    assert sorted(p.name for p in (sweep / ".submitit" / jid).glob("*_log.out")) == [
        f"{jid}_0_log.out",
        f"{jid}_1_log.out",
    ]
    assert not list(folder.glob("train_ddp_process_*.log"))
    one = reference(*odd, "train=false", f"ckpt_path={metrics['best_checkpoint']}")
    assert read_metrics(one)["run"]["world_size"] == 1
    expected = scores(one)
    got = scores(folder)
    assert len(expected) > 8 and got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key


# Each SLURM task: 20 rounds of both tasks creating one job-folder mark at once (a file barrier lines them
# up), each printing what it got and what it read back.
RACE = """
import os, sys, time
from pathlib import Path
from labelsmooth.atomic import create_whole
folder, rank = Path(sys.argv[1]), os.environ["SLURM_PROCID"]
for r in range(20):
    (folder / f"ready{r}_{rank}").touch()
    while not all((folder / f"ready{r}_{k}").exists() for k in ("0", "1")):
        time.sleep(0.001)
    text = f"task {rank}\\n" + "overrides " * 20000
    won = create_whole(folder / f"mark{r}", text)
    print(r, rank, won, (folder / f"mark{r}").read_text() == text, len((folder / f"mark{r}").read_text()))
"""


def test_two_slurm_tasks_creating_one_jobs_mark_at_once_never_see_half_of_it(slurm, tmp_path):
    """`tasks_per_node=2`: both SLURM tasks of a DDP job mark its folder at start. Created then written,
    the second task read an empty mark ("jobs [] and [...] map to one folder") while the first hung in
    DDP init; created whole, exactly one wins each of 20 rounds and both read its whole text."""
    folder = tmp_path / "marks"
    folder.mkdir()
    srun = ["srun", "-p", slurm.partition, "-N1", "-n2", "--cpus-per-task=1", sys.executable, "-c", RACE]
    out = slurm.run(*srun, str(folder), timeout=120)
    rows = [line.split() for line in out.strip().splitlines()]
    assert len(rows) == 40, out
    for r in range(20):
        mine = [row for row in rows if row[0] == str(r)]
        assert sorted(row[2] for row in mine) == ["False", "True"], mine  # one creates it
        winner = next(row for row in mine if row[2] == "True")
        assert winner[3] == "True"
        loser = next(row for row in mine if row[2] == "False")
        assert loser[4] == winner[4] != "0"  # the other reads the whole mark, never an empty or cut one
