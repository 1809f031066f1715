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

The probe also counts each encoder pass's model FLOPs (`labelsmooth.models.flops`, real tokens only) by
phase, and after each round the parent measures the 2048² `torch.mm` peak on the sweep's torch threads.
Together: the MFU of training and of the whole sweep, and the sweep's arithmetic floor (its model FLOPs
at the peak), the wall time that removing overhead cannot go below.

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
# The default sweep's goal on the 2-core CPU (docs/performance.md, "Against the machine's limit").
GOAL_SECONDS = 60
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

        patch(owner, name, timed)


def patch(owner, name: str, replacement) -> None:
    """`owner.name = replacement`, and the same for the copies `from module import name` made in the lab's
    modules already loaded (those loaded later import the replacement)."""
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    for module in list(sys.modules.values()):
        lab = getattr(module, "__name__", "").startswith("labelsmooth") and module is not owner
        if lab and getattr(module, name, None) is original:
            setattr(module, name, replacement)


class FlopCount:
    """Model FLOPs (`labelsmooth.models.flops`: the matrix arithmetic on real tokens) of every encoder pass,
    by the phase it ran in: a pass with gradients on is a training step (forward and backward, 3× the
    forward), any other an evaluation pass. Measurement only: it reads each batch's attention mask."""

    def __init__(self, phases: Phases) -> None:
        self.phases = phases
        self.labels = 0
        self.flops: dict[str, float] = defaultdict(float)
        self.tokens: dict[str, int] = defaultdict(int)
        self.devices: set[str] = set()

    def install(self, train_module) -> None:
        import torch

        import labelsmooth.models.packing as packing
        from labelsmooth.models.flops import ModelFlops, real_lengths

        encode, train = packing.encode, train_module._train

        def counted(encoder, input_ids, attention_mask, token_type_ids=None):
            tokens, squares = real_lengths(attention_mask)
            model = ModelFlops.of(encoder.config, self.labels)
            training = torch.is_grad_enabled()
            key = f"{self.phases.stack[-1]}|{'training steps' if training else 'evaluation'}"
            self.flops[key] += model.train(tokens, squares) if training else model.forward(tokens, squares)
            self.tokens[key] += tokens
            self.devices.add(attention_mask.device.type)
            return encode(encoder, input_ids, attention_mask, token_type_ids)

        def with_labels(cfg):
            self.labels = len(cfg.task.labels)  # the classifier's width: the N of the head's H·C weights
            return train(cfg)

        patch(packing, "encode", counted)
        patch(train_module, "_train", with_labels)


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
    count = FlopCount(phases)
    count.install(train_module)
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
    import torch

    report = {
        "phases": seconds,
        "flops": count.flops,
        "tokens": count.tokens,
        "devices": sorted(count.devices),
        "threads": torch.get_num_threads(),
        "end": time.time(),
    }
    out.write_text(json.dumps(report))


def import_seconds(stderr: str) -> float:
    """Total import time from `-X importtime`: the cumulative column of top-level imports."""
    total = 0
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line[len("import time:") :].split("|")
            if cumulative.strip().isdigit() and not name.startswith("  "):
                total += int(cumulative)
    return total / 1e6


def one_round(extra: list[str]) -> tuple[float, dict, float, list[str]]:
    """The sweep's wall time from here, its probe's report (phases, FLOPs, threads), its imports' total and
    each job's test F1."""
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
        return wall, data, import_seconds(proc.stderr), f1


def peak_on(threads: int) -> float:
    """The 2048² `torch.mm` peak here, on the sweep's torch threads (right after its round)."""
    import labelsmooth  # noqa: F401 - before torch, as in the sweep: it sets torch's huge-page flag

    # isort: split
    import torch

    from labelsmooth.models.flops import peak_matmul_flops

    torch.set_num_threads(threads)
    return peak_matmul_flops()


def median_range(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    values = [v * scale for v in values]
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def flops_report(flops: list[dict], tokens: list[dict], peaks: list[float], walls, training) -> list[str]:
    """Each phase's model FLOPs, the MFU of training and of the whole sweep, and the arithmetic floor: the
    time the sweep's model FLOPs take at the peak, the wall time no overhead removal can go below."""
    lines = ["model FLOPs (labelsmooth.models.flops), per round: phase | passes: TFLOP, real tokens"]
    for key in sorted(flops[0]):
        phase, passes = key.split("|")
        lines.append(f"  {phase} | {passes}: {flops[0][key] / 1e12:.4g} TFLOP, {tokens[0][key]:,} tokens")
    totals = [sum(f.values()) for f in flops]
    fit = [sum(v for k, v in f.items() if k.startswith("training")) for f in flops]
    lines.append(f"  whole sweep: {totals[0] / 1e12:.4g} TFLOP")
    floor = [t / p for t, p in zip(totals, peaks, strict=True)]
    train_mfu = [f / t / p for f, t, p in zip(fit, training, peaks, strict=True)]
    sweep_mfu = [t / w / p for t, w, p in zip(totals, walls, peaks, strict=True)]
    lines += [
        f"peak: {median_range(peaks, 1e-9)} GFLOP/s (2048² fp32 torch.mm, best of 5, after each round)",
        f"MFU of training (fit, with its per-epoch validation): {median_range(train_mfu, 100)} %",
        f"MFU of the whole sweep (its model FLOPs / wall time / peak): {median_range(sweep_mfu, 100)} %",
        f"arithmetic floor (the sweep's model FLOPs at the peak): {median_range(floor)} s; a sweep of "
        f"{GOAL_SECONDS} s needs an MFU of {median_range([100 * f / GOAL_SECONDS for f in floor])} % over "
        "the whole sweep",
    ]
    return lines


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        probe(Path(sys.argv[2]), sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="extra run.py overrides (logger=csv, ...)")
    args = parser.parse_args()
    walls, imports, per_phase, scores = [], [], defaultdict(list), set()
    flops, tokens, peaks, threads, devices = [], [], [], set(), set()
    for _ in range(args.rounds):
        wall, data, imported, f1 = one_round(args.overrides)
        walls.append(wall)
        imports.append(imported)
        flops.append(data["flops"])
        tokens.append(data["tokens"])
        threads.add(data["threads"])
        devices.update(data["devices"])
        if devices == {"cpu"}:  # the peak is this CPU's: an MFU against it means nothing for a GPU's passes
            peaks.append(peak_on(data["threads"]))
        phases = data["phases"]
        for name in ORDER:
            per_phase[name].append(phases.pop(name, 0.0))
        for name, seconds in phases.items():  # a phase this list does not name (should be none)
            per_phase[name].append(seconds)
        scores.add("; ".join(f1))
    width = max(map(len, per_phase))
    print(
        f"`python run.py {' '.join(SWEEP + args.overrides)}`, fresh data and outputs, {args.rounds} rounds, "
        f"torch threads {', '.join(map(str, sorted(threads)))}"
    )
    print(f"{'phase':{width}s}  median s  (range)")
    for name, values in per_phase.items():
        print(f"{name:{width}s}  {statistics.median(values):7.2f}  ({min(values):.2f}–{max(values):.2f})")
    print(f"{'of which imports (-X importtime)':{width}s}  {statistics.median(imports):7.2f}")
    for line in sorted(scores):
        print(line)
    training = per_phase["training (fit, with its per-epoch validation)"]
    if any(f != flops[0] for f in flops):
        print("model FLOPs differ between rounds: the sweep did not do the same work each time")
    if devices == {"cpu"}:
        print("\n".join(flops_report(flops, tokens, peaks, walls, training)))
    else:
        print(f"encoder passes on {', '.join(sorted(devices)) or 'no device'}: no CPU peak, no MFU or floor")
    outside = statistics.median(1 - t / w for t, w in zip(training, walls, strict=True))
    print(f"share of the sweep outside training (its reference, same run): {100 * outside:.1f} %")
    print(
        f"sweep wall time: median {statistics.median(walls):.1f} s (range {min(walls):.1f}–{max(walls):.1f})"
    )


if __name__ == "__main__":
    main()
