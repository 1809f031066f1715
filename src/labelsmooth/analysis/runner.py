"""`labelsmooth-claims run`: train a claim's sweep in batches of seeds, collect each batch, stop when decided.

A batch is one `python run.py -m experiment=<recipe> <key>=<values> seed=<batch>` (any launcher: the
overrides after `--` pass through, e.g. `hydra/launcher=joblib hydra.launcher.n_jobs=2`), preceded by the
stages it needs (distillation teachers for those seeds). Jobs land in outputs/claims/<sweep>/jobs/<batch>/;
after each batch they are collected into experiments/results/<sweep>.jsonl.gz (a batch whose jobs that file
would refuse, see results_store.refuse_unjoinable, stops before it trains). With --until-decided, batches
continue until every row of the claims on that sweep has stopped (the rules: stop_rules.py), never past the
claims' last look, --max-seeds, or --budget-minutes of wall time. Each run appends one line to
experiments/results/runs.jsonl, also a run cut short (Ctrl-C, a failed batch: its batches so far, and why).
A batch trains only the (configuration, seed) jobs not yet in the results file, so a run started again after
an interruption does not repeat finished jobs (a job finished but not collected is collected first).

One run per sweep at a time (sweep_folder.py): a second run of a claim on a sweep being run stops at once,
naming the run that holds it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from labelsmooth.analysis.claims_file import Claim, ClaimsFile, Sweep
from labelsmooth.analysis.report import RUNLOG, evaluate, label
from labelsmooth.analysis.results_store import collect, load, refuse_unjoinable
from labelsmooth.analysis.stop_rules import stop_reason
from labelsmooth.analysis.sweep_folder import batch_folder, sweep_lock
from labelsmooth.run.provenance import checkout_code, project_root
from labelsmooth.run.sweeps import read_jobs

Launch = Callable[[list[str]], None]  # runs one `run.py` command line (its arguments)
Code = Callable[[], tuple[str | None, bool | None]]  # the code a job run now would record: commit, dirty


def launch_run_py(args: list[str]) -> None:
    """Run the training entry (`run.py`'s) with ARGS from the checkout's root, where relative paths of the
    config tree point; a failed sweep stops here with its command."""
    command = [sys.executable, "-m", "labelsmooth.cli.train", *args]
    print("+ " + shlex.join(command), flush=True)
    if subprocess.run(command, cwd=project_root()).returncode != 0:
        raise SystemExit(f"claims run: the sweep failed: {shlex.join(command)}")


def needs_gap(cf: ClaimsFile, sweep: str) -> bool:
    """Does a calibration claim use this sweep (so its results keep the confidence gap's columns)?"""
    return any(c.calibration for c in cf.claims.values() if sweep in c.sweeps)


def claim_metrics(cf: ClaimsFile, sweep: str) -> list[str]:
    """Every metric a claim on this sweep reads (what its results file stores per job)."""
    metrics: list[str] = []
    for c in cf.claims.values():
        if sweep in c.sweeps:
            metrics += [c.metric] + ([c.baseline_metric] if c.baseline_metric else [])
    return list(dict.fromkeys(metrics))


def configurations(claims: list[Claim], sweep: Sweep) -> list[str]:
    """The values of the sweep's key that these claims compare (baselines first)."""
    values = [c.baseline.partition("=")[2] for c in claims]
    values += [x.config.partition("=")[2] for c in claims for x in c.compare]
    return list(dict.fromkeys(values))


class SweepRunner:
    """Runs the batches of one sweep for a set of claims and keeps its results file up to date."""

    def __init__(
        self,
        cf: ClaimsFile,
        sweep: Sweep,
        claims: list[Claim],
        outputs: Path,
        results: Path,
        extra: list[str],
        launch: Launch = launch_run_py,
        code: Code = checkout_code,
    ) -> None:
        self.cf, self.sweep, self.claims, self.code = cf, sweep, claims, code
        self.root = outputs / sweep.name
        self.results = results
        self.file = results / f"{sweep.name}.jsonl.gz"
        self.extra, self.launch = extra, launch
        self.values = configurations(claims, sweep)

    def collect(self) -> None:
        if (self.root / "jobs").is_dir() and any((self.root / "jobs").glob("**/.hydra/overrides.yaml")):
            metrics = claim_metrics(self.cf, self.sweep.name)
            gap = needs_gap(self.cf, self.sweep.name)
            collect(
                [self.root / "jobs"], self.file, [self.sweep.key], metrics, gap, pool=self.sweep.pool_commits
            )

    def _stored(self) -> set[tuple[str, int]]:
        """(value of the sweep's key, seed) of every job in the results file."""
        return {(o.partition("=")[2], e["seed"]) for e in load(self.file) for o in e["config"]}

    def done_seeds(self) -> set[int]:
        """Seeds at which every configuration these claims need is in the results file."""
        stored = self._stored()
        sets = [{seed for value, seed in stored if value == v} for v in self.values]
        return set.intersection(*sets) if sets else set()

    def missing(self, seeds: list[int]) -> list[tuple[list[str], list[int]]]:
        """The jobs these seeds still lack, as grids to launch (values × seeds): values lacking the same
        seeds share one. A batch run again after an interruption trains only what did not finish."""
        stored, grids = self._stored(), {}
        for v in self.values:
            if lacking := tuple(s for s in seeds if (v, s) not in stored):
                grids.setdefault(lacking, []).append(v)
        return [(values, list(lacking)) for lacking, values in grids.items()]

    def run_batch(self, seeds: list[int]) -> None:
        refuse_unjoinable(self.file, *self.code(), self.sweep.pool_commits)
        distill = [f"distill_dir={self.root / 'distill'}"] if self.sweep.before else []
        for stage in self.sweep.before:
            for override in stage.overrides:  # teachers this batch still needs, one configuration at a time
                missing = [s for s in seeds if (override, s) not in self._finished(self.root / "distill")]
                if missing:
                    self.launch(
                        [
                            "-m",
                            f"experiment={stage.recipe}",
                            override,
                            f"seed={','.join(map(str, missing))}",
                            *distill,
                            *self.extra,
                        ]
                    )
        for values, lacking in self.missing(seeds):
            self.launch(
                [
                    "-m",
                    f"experiment={self.sweep.recipe}",
                    *self.sweep.overrides,
                    f"{self.sweep.key}={','.join(values)}",
                    f"seed={','.join(map(str, lacking))}",
                    f"hydra.sweep.dir={batch_folder(self.root / 'jobs', lacking)}",
                    *distill,
                    *self.extra,
                ]
            )
        self.collect()

    @staticmethod
    def _finished(folder: Path) -> set[tuple[str, int]]:
        if not folder.is_dir() or not any(folder.glob("**/.hydra/overrides.yaml")):
            return set()
        return {(o, j.seed) for j in read_jobs([folder], warn=lambda line: None) for o in j.overrides}


def run(
    cf: ClaimsFile,
    claims: list[Claim],
    outputs: Path,
    results: Path,
    extra: list[str],
    seeds: list[int] | None,
    until_decided: bool,
    max_seeds: int,
    batch: int | None,
    budget_minutes: float | None,
    launch: Launch = launch_run_py,
    clock: Callable[[], float] = time.monotonic,
    code: Code = checkout_code,
) -> list[dict]:
    """Run every sweep of these claims; returns the run-log entries it appended."""
    names = list(dict.fromkeys(s for c in claims for s in c.sweeps))
    with ExitStack() as locks:  # every sweep's lock first: a run refused halfway would waste the first part
        for name in names:
            locks.enter_context(sweep_lock(outputs / name, [c for c in claims if name in c.sweeps]))
        args = (extra, seeds, until_decided, max_seeds, batch, budget_minutes, launch, clock, code)
        return _run(cf, claims, names, outputs, results, *args)


def _run(
    cf: ClaimsFile,
    claims: list[Claim],
    names: list[str],
    outputs: Path,
    results: Path,
    extra: list[str],
    seeds: list[int] | None,
    until_decided: bool,
    max_seeds: int,
    batch: int | None,
    budget_minutes: float | None,
    launch: Launch,
    clock: Callable[[], float],
    code: Code,
) -> list[dict]:
    entries = []
    for name in names:
        on_sweep = [c for c in claims if name in c.sweeps]
        runner = SweepRunner(cf, cf.sweeps[name], on_sweep, outputs, results, extra, launch, code)
        width = batch or _width(extra, len(runner.values))
        log = RunLog(cf, results, name, on_sweep, until_decided, max_seeds, clock, clock())
        stop, ended = {}, ""
        runner.collect()
        target = seeds if seeds is not None else sorted({s for c in on_sweep for s in c.seeds})
        todo = [s for s in target if s not in runner.done_seeds()]
        while True:
            if not todo:
                if not until_decided:
                    break
                rows = [v for v in evaluate(cf, results, on_sweep) if v.sweep == name]
                stop = {label(v.claim, v.row): r for v in rows if (r := stop_reason(v, max_seeds))}
                if rows and len(stop) == len(rows):
                    break
                done = runner.done_seeds()
                # Never past the claims' last look (the sequential design's) nor --max-seeds.
                last_look = max(c.looks[-1] for c in on_sweep)
                cap = min(max_seeds, last_look)
                room = cap - len(done)
                if room <= 0:
                    looks = cap == last_look
                    ended = f"last look ({cap} seeds) reached" if looks else f"max seeds ({cap}) reached"
                    break
                todo = [s for s in range(max(done, default=-1) + 1, 10**6) if s not in done][
                    : min(width, room)
                ]
            last = log.batches[-1]["wall_s"] if log.batches else 0.0
            if budget_minutes is not None and clock() - log.start + last > 60 * budget_minutes:
                ended = f"budget ({budget_minutes:g} min) reached"
                break
            before = len(runner.done_seeds())
            now, chunk, todo = clock(), todo[:width], todo[width:]
            try:
                runner.run_batch(chunk)
            except (KeyboardInterrupt, SystemExit) as err:
                # The batches before it still cost their time: log them, and why the run ended, then stop.
                log.batches.append({"seeds": chunk, "wall_s": round(clock() - now, 1), "cut_short": True})
                why = "interrupted" if isinstance(err, KeyboardInterrupt) else "the batch failed"
                log.write({}, f"cut short: {why}", str(err) or type(err).__name__)
                raise
            log.batches.append({"seeds": chunk, "wall_s": round(clock() - now, 1)})
            if len(runner.done_seeds()) == before:
                ended = "no progress (the batch finished no seed)"
                break
        entries.append(log.write(stop, ended or ("max seeds or budget" if until_decided else "fixed seeds")))
    return entries


@dataclass
class RunLog:
    """One sweep's line in results/runs.jsonl: the run's batches, wall time, and why each row stopped."""

    cf: ClaimsFile
    results: Path
    sweep: str
    claims: list[Claim]
    until_decided: bool
    max_seeds: int
    clock: Callable[[], float]
    start: float
    batches: list[dict] = field(default_factory=list)

    def write(self, stop: dict[str, str], ended: str, error: str | None = None) -> dict:
        """Append the line: a row's reason is `stop`'s where a rule stopped it, else `ended`; `error` is
        the message of a run cut short."""
        rows = [v for v in evaluate(self.cf, self.results, self.claims) if v.sweep == self.sweep]
        entry = {
            "sweep": self.sweep,
            "claims": [c.id for c in self.claims],
            "command": shlex.join(["labelsmooth-claims", *sys.argv[1:]]),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_s": round(self.clock() - self.start, 1),
            "batches": self.batches,
            "until_decided": self.until_decided,
            "max_seeds": self.max_seeds,
            "stop": {label(v.claim, v.row): stop.get(label(v.claim, v.row)) or ended for v in rows},
            "n_seeds": {label(v.claim, v.row): v.row.n_paired for v in rows},
        } | ({"error": error} if error else {})
        self.results.mkdir(parents=True, exist_ok=True)
        with open(self.results / RUNLOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return entry


def _width(extra: list[str], n_configs: int) -> int:
    """Seeds per batch: enough jobs to fill the launcher (hydra.launcher.n_jobs), at least one seed."""
    jobs = next((int(o.split("=", 1)[1]) for o in extra if o.startswith("hydra.launcher.n_jobs=")), 1)
    return max(1, jobs // max(1, n_configs))
