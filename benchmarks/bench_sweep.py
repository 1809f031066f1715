"""Wall time of the main sweep (`make run`: `python run.py -m smoothing=ls,gls task=ner`) from a fresh
clone's state, and where it goes, phase by phase.

Each round starts run.py's sweep as a subprocess with empty data, features and output folders (what a fresh
clone has: the first job generates and tokenises the data, as `make run` does) and times it from the
parent: that is the figure to compare with `make run`'s. The same subprocess reports its phases: it is this
file run as `bench_sweep.py --probe FILE -- OVERRIDES`, which wraps the functions that begin and end each
phase in a timer (measurement only: each wrapper calls the original unchanged and only reads the clock)
and then runs run.py's Hydra main in-process. Time is exclusive: a plot drawn inside `trainer.test` counts
as plots, not as test. Imports are spread over the phases that trigger them; `-X importtime` gives their
total, printed as "of which imports". The last lines name each job's test F1 (the digits must not move)
and `sweep wall time: median X s`.

`python benchmarks/bench_sweep.py [--rounds 3] [OVERRIDE ...]` (extra overrides for run.py, e.g. logger=csv).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["-m", "smoothing=ls,gls", "task=ner"]
ORDER = [
    "python start-up",
    "imports of run.py",
    "imports of torch, Lightning, matplotlib, W&B (pre-loaded for the timers)",
    "Hydra: compose, launch, job set-up",
    "job: checks, folder, callbacks, trainer",
    "data: generate, read, tokenise or cached",
    "model: build, load weights",
    "W&B: init, log, finish",
    "training (fit, with its per-epoch validation)",
    "final validate",
    "final test",
    "plots: figures and savefig",
    "metrics file",
    "sweep end: callbacks, exit",
]


class Phases:
    """Exclusive wall time per phase: entering a phase pauses the one it interrupts."""

    def __init__(self, start: str) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.stack = [start]
        self.mark = time.perf_counter()

    def replace(self, phase: str) -> None:
        """End the current phase and go on in `phase` at the same depth."""
        now = time.perf_counter()
        self.seconds[self.stack[-1]] += now - self.mark
        self.mark, self.stack[-1] = now, phase

    def switch(self, push: str | None) -> None:
        now = time.perf_counter()
        self.seconds[self.stack[-1]] += now - self.mark
        self.mark = now
        if push is None:
            self.stack.pop()
        else:
            self.stack.append(push)

    def wrap(self, owner, name: str, phase: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            self.switch(phase)
            try:
                return original(*args, **kwargs)
            finally:
                self.switch(None)

        setattr(owner, name, timed)
        # `from module import name` made copies: replace those in the lab's modules already loaded
        for module in list(sys.modules.values()):
            lab = getattr(module, "__name__", "").startswith("labelsmooth") and module is not owner
            if lab and getattr(module, name, None) is original:
                setattr(module, name, timed)


def probe(out: Path, overrides: list[str]) -> None:
    """In the sweep's own process: time its phases, then run run.py's main as `python run.py` would."""
    t_start = time.time()
    phases = Phases("imports of run.py")
    phases.seconds["python start-up"] = t_start - float(os.environ["BENCH_SPAWN"])
    import hydra  # noqa: F401  (run.py's own imports, timed as its import phase)
    import omegaconf  # noqa: F401

    import labelsmooth  # noqa: F401

    phases.replace("imports of torch, Lightning, matplotlib, W&B (pre-loaded for the timers)")
    import matplotlib.figure
    import pytorch_lightning as pl
    from hydra.utils import get_class

    import labelsmooth.callbacks.plots as plots
    import labelsmooth.cli.train as train_module

    wandb_logger = "logger=wandb" in overrides or not any(o.startswith("logger=") for o in overrides)
    if wandb_logger:
        import wandb
        from wandb.sdk import wandb_run
    phases.replace("Hydra: compose, launch, job set-up")  # the phase below every job: Hydra's own work
    phases.wrap(train_module, "_train", "job: checks, folder, callbacks, trainer")
    phases.wrap(train_module, "write_metrics", "metrics file")
    instantiate = train_module.instantiate

    def timed_instantiate(node, *args, **kwargs):
        target = node.get("_target_") if isinstance(node, Mapping) else None
        cls = get_class(target) if isinstance(target, str) else None
        data = isinstance(cls, type) and issubclass(cls, pl.LightningDataModule)
        model = isinstance(cls, type) and issubclass(cls, pl.LightningModule)
        if not (data or model):
            return instantiate(node, *args, **kwargs)
        kind = "data: generate, read, tokenise or cached" if data else "model: build, load weights"
        phases.switch(kind)
        try:
            built = instantiate(node, *args, **kwargs)
        finally:
            phases.switch(None)
        if data:
            for method in ("prepare_data", "setup"):
                phases.wrap(built, method, kind)
        return built

    train_module.instantiate = timed_instantiate
    phases.wrap(pl.Trainer, "fit", "training (fit, with its per-epoch validation)")
    phases.wrap(pl.Trainer, "validate", "final validate")
    phases.wrap(pl.Trainer, "test", "final test")
    for owner, name in (
        (plots, "plot_reliability"),
        (plots, "plot_projection"),
        (matplotlib.figure.Figure, "savefig"),
    ):
        phases.wrap(owner, name, "plots: figures and savefig")
    if wandb_logger:
        phases.wrap(wandb, "init", "W&B: init, log, finish")
        phases.wrap(wandb, "finish", "W&B: init, log, finish")
        for name in ("log", "finish"):
            phases.wrap(wandb_run.Run, name, "W&B: init, log, finish")
    sys.argv = [str(ROOT / "run.py"), *overrides]
    import runpy

    try:
        runpy.run_path(str(ROOT / "run.py"), run_name="__main__")
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise
    phases.switch(None)
    seconds = dict(phases.seconds)
    out.write_text(json.dumps({"phases": seconds, "end": time.time()}))


def import_seconds(stderr: str) -> float:
    """Total import time from `-X importtime`: the cumulative column of top-level imports."""
    total = 0
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line[len("import time:") :].split("|")
            if cumulative.strip().isdigit() and not name.startswith("  "):
                total += int(cumulative)
    return total / 1e6


def one_round(extra: list[str]) -> tuple[float, dict[str, float], float, list[str]]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sweep_dir = tmp / "sweep"
        overrides = [*SWEEP, f"paths.data_dir={tmp / 'data'}", f"hydra.sweep.dir={sweep_dir}", *extra]
        report = tmp / "phases.json"
        cmd = [sys.executable, "-X", "importtime", __file__, "--probe", str(report), "--", *overrides]
        env = os.environ | {"BENCH_SPAWN": repr(time.time()), "WANDB_MODE": "offline"}
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        end = time.time()
        if proc.returncode != 0:
            raise SystemExit(f"the sweep failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        data = json.loads(report.read_text())
        phases = data["phases"]
        phases["sweep end: callbacks, exit"] = (
            phases.get("sweep end: callbacks, exit", 0.0) + end - data["end"]
        )
        f1 = []
        for metrics in sorted(sweep_dir.glob("*/metrics.json")):
            job = json.loads(metrics.read_text())
            f1.append(f"job {metrics.parent.name}: test F1 {job['test/f1']:.2f}")
        return wall, phases, import_seconds(proc.stderr), f1


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        probe(Path(sys.argv[2]), sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="extra run.py overrides (logger=csv, ...)")
    args = parser.parse_args()
    walls, imports, per_phase, scores = [], [], defaultdict(list), set()
    for _ in range(args.rounds):
        wall, phases, imported, f1 = one_round(args.overrides)
        walls.append(wall)
        imports.append(imported)
        for name in ORDER:
            per_phase[name].append(phases.pop(name, 0.0))
        for name, seconds in phases.items():  # a phase this list does not name (should be none)
            per_phase[name].append(seconds)
        scores.add("; ".join(f1))
    width = max(map(len, per_phase))
    print(f"`python run.py {' '.join(SWEEP + args.overrides)}`, fresh data and outputs, {args.rounds} rounds")
    print(f"{'phase':{width}s}  median s  (range)")
    for name, values in per_phase.items():
        print(f"{name:{width}s}  {statistics.median(values):7.2f}  ({min(values):.2f}–{max(values):.2f})")
    print(f"{'of which imports (-X importtime)':{width}s}  {statistics.median(imports):7.2f}")
    for line in sorted(scores):
        print(line)
    training = per_phase["training (fit, with its per-epoch validation)"]
    outside = statistics.median(1 - t / w for t, w in zip(training, walls, strict=True))
    print(f"share of the sweep outside training (its reference, same run): {100 * outside:.1f} %")
    print(
        f"sweep wall time: median {statistics.median(walls):.1f} s (range {min(walls):.1f}–{max(walls):.1f})"
    )


if __name__ == "__main__":
    main()
