"""Training and evaluation throughput of the lab's Lightning loop against `transformers.Trainer`.

Same encoder (MiniLM by default), same NER features (the synthetic CoNLL data through the lab's own
NERDataModule and its collation: dynamic padding to the longest item of each batch), same batch sizes.
(a) the lab: the real Hydra config (`task=ner logger=none`), instantiated as `labelsmooth.cli.train` does, and
`pytorch_lightning.Trainer.fit` for a fixed number of steps (no checkpoint, no progress bar, no validation
inside fit); its encoder runs packed, on the real tokens only, unless `model.pack=false` is given.
(b) `transformers.Trainer` with `AutoModelForTokenClassification` (the same encoder, dropout and linear
head, padded batches) and the Trainer's defaults, its default optimiser included (printed), except
`remove_unused_columns=False` (the lab's collation needs `word_index`; the collator drops it) and no log
printing. One torch thread by default (`--threads`) for both: on a shared 2-core machine two threads that
wait for each other slow every op several-fold, at random. Rounds alternate
(a) and (b) in one process; each path's figure is its median over rounds, and the ratio's spread is the
range of the per-round ratios. Warm-up steps are not timed: a step is timed from the end of the one before
it, so data loading, forward, backward, clipping, optimiser, scheduler, logging and callbacks all count.

MFU: model FLOP/s (labelsmooth.models.flops: the matrix arithmetic on the real tokens) over
the peak fp32 FLOP/s of a 2048² `torch.mm` measured in the same round on the same threads. The padded
paths (HF, `model.pack=false`) do more arithmetic than they are credited with: their padding.

`python benchmarks/bench_train_throughput.py [--rounds 3] [--steps 20] [--model NAME] [--batch-size 32]
[--tiny] [--unfused] [--profile] [--op-profile] [--threads 1] [HYDRA_OVERRIDE ...]` (overrides of the lab's
config only).
`transformers.Trainer` needs `accelerate` (pip install it).
The last line is `train throughput ratio (lab / HF Trainer): X.XX` (above 1: the lab trains faster).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import math
import pstats
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import labelsmooth  # noqa: F401 - before torch, as in every run: it sets torch's huge-page flag

# isort: split
import torch

from labelsmooth.models.flops import ModelFlops, peak_matmul_flops, real_lengths

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"


def compose_lab_config(args: argparse.Namespace, tmp: Path, fused: bool):
    """The lab's own config for `task=ner`, with this run's model, batch size, steps and folders."""
    from hydra import compose, initialize_config_dir

    overrides = [
        "task=ner",
        "logger=none",
        f"paths.root_dir={ROOT}",
        f"paths.data_dir={tmp / 'data'}",
        f"paths.output_dir={tmp / 'lab'}",
        f"task.datamodule.batch_size={args.batch_size}",
        f"+trainer.max_steps={args.steps}",
        "trainer.max_epochs=-1",
    ]
    if args.tiny:
        overrides.append("model=tiny")
    elif args.model:
        overrides.append(f"model.name_or_path={args.model}")
    if not fused:
        overrides.append("task.module.optimizer.fused=false")
    overrides += args.overrides
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


class StepClock:
    """Wall-clock time at the end of every training step, with its examples, real tokens and the sum of its
    squared sentence lengths (model FLOPs, `ModelFlops`); and of every evaluation batch, with its size."""

    def __init__(self) -> None:
        self.train: list[tuple[float, int, int, int]] = []  # (time, examples, tokens, squared lengths)
        self.eval: list[tuple[float, int]] = []
        self.start = self.eval_start = 0.0
        self.loss = math.nan  # the lab's last step loss, HF's mean training loss

    def _timed(self, warmup: int) -> tuple[list[tuple[float, int, int, int]], float]:
        """The steps after the first `warmup` ones and the time they took."""
        if len(self.train) <= warmup:
            raise RuntimeError(f"{len(self.train)} steps recorded: need more than --warmup {warmup}")
        t0 = self.train[warmup - 1][0] if warmup else self.start
        rest = self.train[warmup:]
        return rest, rest[-1][0] - t0

    def examples_per_second(self, warmup: int) -> float:
        """Examples of the steps after the first `warmup` ones over the time they took."""
        rest, seconds = self._timed(warmup)
        return sum(step[1] for step in rest) / seconds

    def train_flops_per_second(self, warmup: int, flops: ModelFlops) -> float:
        """Model FLOPs of the timed steps (their real tokens only) over the time they took."""
        rest, seconds = self._timed(warmup)
        return sum(flops.train(tokens, squares) for _, _, tokens, squares in rest) / seconds

    def eval_examples_per_second(self) -> float:
        return sum(n for _, n in self.eval) / (self.eval[-1][0] - self.eval_start)


def lightning_clock(clock: StepClock, profile: cProfile.Profile | None, warmup: int):
    """Times the steps; profiles the timed ones (from the end of the last warm-up step) when asked."""
    import pytorch_lightning as pl

    class Clock(pl.Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            if profile is not None and warmup == 0:
                profile.enable()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            tokens = real_lengths(batch["attention_mask"])
            clock.train.append((time.perf_counter(), len(batch["input_ids"]), *tokens))
            clock.loss = outputs["loss"].detach()
            if profile is not None and len(clock.train) == warmup:
                profile.enable()
            if profile is not None and trainer.global_step >= trainer.max_steps:
                profile.disable()

        def on_validation_epoch_start(self, trainer, pl_module) -> None:
            clock.eval_start = time.perf_counter()

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            clock.eval.append((time.perf_counter(), len(batch["input_ids"])))

    return Clock()


def run_lab(
    cfg, datamodule, clock: StepClock, tmp: Path, warmup: int, profile: cProfile.Profile | None
) -> float:
    """One `Trainer.fit` of a fresh module for `trainer.max_steps` steps, then one `validate`; returns the
    wall time of `validate` (the validation loop plus the epoch-end metrics, files and plots)."""
    from hydra.utils import instantiate
    from omegaconf import DictConfig

    module = instantiate(cfg.task.module)
    from pytorch_lightning.callbacks import Checkpoint

    from labelsmooth.run.kernel_flags import set_kernel_flags

    # The lab's callbacks but those that write checkpoints (best.ckpt, last.ckpt): the reference saves none.
    built = [instantiate(n) for n in cfg.callbacks.values() if isinstance(n, DictConfig) and "_target_" in n]
    callbacks = [c for c in built if not isinstance(c, Checkpoint)]
    trainer = instantiate(
        cfg.trainer,
        callbacks=[*callbacks, lightning_clock(clock, profile, warmup)],
        logger=False,
        default_root_dir=str(tmp / "lab"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    set_kernel_flags(trainer)  # as labelsmooth.cli.train does
    clock.start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    clock.loss = float(clock.loss)
    trainer.limit_val_batches = 1.0
    start = time.perf_counter()
    trainer.validate(module, datamodule=datamodule, verbose=False)
    return time.perf_counter() - start


def run_hf(cfg, datamodule, clock: StepClock, tmp: Path, args: argparse.Namespace) -> tuple[float, str]:
    """The same steps through `transformers.Trainer` and its defaults; returns (evaluate time, optimiser)."""
    from hydra.utils import instantiate
    from transformers import (
        AutoConfig,
        AutoModelForTokenClassification,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from labelsmooth.models.specs import resolve_name_or_path

    spec = instantiate(cfg.model)
    path = resolve_name_or_path(spec.name_or_path)
    labels = list(cfg.task.labels)
    config = AutoConfig.from_pretrained(
        path, num_labels=len(labels), classifier_dropout=cfg.task.module.dropout, **spec.config_overrides
    )
    if spec.pretrained:
        model = AutoModelForTokenClassification.from_pretrained(path, config=config)
    else:
        model = AutoModelForTokenClassification.from_config(config)
    keep = ("input_ids", "attention_mask", "labels")

    collated: list[tuple[int, int]] = []  # per training batch, in the order the loader made them

    def collate(features):
        batch = datamodule.collate_fn(features)
        collated.append(real_lengths(batch["attention_mask"]))
        return {k: batch[k] for k in keep}

    class Clock(TrainerCallback):
        def on_step_end(self, targs, state, control, **kwargs) -> None:
            # the loader may run a batch ahead (accelerate's end-of-data check): step i is batch i
            tokens = collated[len(clock.train)]
            clock.train.append((time.perf_counter(), targs.per_device_train_batch_size, *tokens))

        def on_prediction_step(self, targs, state, control, **kwargs) -> None:
            clock.eval.append((time.perf_counter(), targs.per_device_eval_batch_size))

    training_args = TrainingArguments(
        output_dir=str(tmp / "hf"),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=cfg.task.datamodule.eval_batch_size,
        max_steps=args.steps,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        seed=cfg.seed,
        # the lab's collation needs word_index; `collate` drops what the model does not take
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=datamodule.dataset("train"),
        eval_dataset=datamodule.dataset("val"),
        data_collator=collate,
        callbacks=[Clock()],
    )
    trainer.remove_callback(PrinterCallback)  # it prints the logs; the lab's runs print nothing either
    clock.start = time.perf_counter()
    clock.loss = trainer.train().training_loss
    # the last batch of the val split is short: count it as it is
    n_val = len(datamodule.dataset("val"))
    start = time.perf_counter()
    clock.eval_start = start
    trainer.evaluate()
    elapsed = time.perf_counter() - start
    if clock.eval:
        full, rest = divmod(n_val, training_args.per_device_eval_batch_size)
        if rest and len(clock.eval) == full + 1:
            clock.eval[-1] = (clock.eval[-1][0], rest)
    return elapsed, str(training_args.optim.value)


def model_flops(cfg) -> ModelFlops:
    """The FLOP counts of the config's encoder and its token-classification head."""
    from hydra.utils import instantiate
    from transformers import AutoConfig

    from labelsmooth.models.specs import resolve_name_or_path

    spec = instantiate(cfg.model)
    config = AutoConfig.from_pretrained(resolve_name_or_path(spec.name_or_path), **spec.config_overrides)
    return ModelFlops.of(config, len(cfg.task.labels))


def val_flops_per_example(datamodule, flops: ModelFlops) -> float:
    """Mean forward FLOPs of one validation sentence (every path evaluates the whole split)."""
    lengths = [len(f["input_ids"]) for f in datamodule.dataset("val")]
    return sum(flops.forward(n, n * n) for n in lengths) / len(lengths)


class TorchOpProfile:
    """torch.profiler over the timed steps, with the enable/disable of cProfile (`lightning_clock`)."""

    def __init__(self) -> None:
        from torch.profiler import ProfilerActivity, profile

        self.profiler = profile(activities=[ProfilerActivity.CPU])
        self.wall = 0.0

    def enable(self) -> None:
        self.profiler.start()
        self.wall = time.perf_counter()

    def disable(self) -> None:
        self.profiler.stop()
        self.wall = time.perf_counter() - self.wall


OP_GROUPS = [  # (group, substrings of aten op names), first match wins; self time, so nothing counts twice
    ("GEMM (mm, addmm, bmm)", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addbmm")),
    ("attention kernel (SDPA: QKᵀ, softmax, AV)", ("scaled_dot_product",)),
    ("optimiser (fused AdamW, zero_grad)", ("_fused_adamw", "_foreach", "zero_")),
    ("embedding backward (dense gradient)", ("embedding_dense_backward", "embedding_backward")),
    ("LayerNorm, GELU, dropout, softmax", ("layer_norm", "gelu", "dropout", "bernoulli", "softmax")),
    ("copies, indexing, packing", ("copy_", "index", "gather", "scatter", "cat", "nonzero", "masked")),
]


def op_report(op_profile: TorchOpProfile, steps: int) -> str:
    """Self CPU time of the timed steps' ops by group; the rest of the wall time ran no op (Python)."""
    totals: dict[str, float] = {name: 0.0 for name, _ in OP_GROUPS}
    other, others = 0.0, []
    for event in op_profile.profiler.key_averages():
        seconds = event.self_cpu_time_total / 1e6
        group = next((name for name, keys in OP_GROUPS if any(k in event.key for k in keys)), None)
        if group is None:
            other += seconds
            others.append((seconds, event.key))
        else:
            totals[group] += seconds
    wall = op_profile.wall
    lines = [
        f"ops of the lab's {steps} timed steps (torch.profiler self time; per step and share of the wall):"
    ]
    lines.append(f"  {'whole step (wall)':44s} {1e3 * wall / steps:8.1f} ms  100.0 %")
    rows = [*totals.items(), ("other element-wise ops (add, mul, ...)", other)]
    rows.append(("no op running (Python, hooks, data)", wall - sum(totals.values()) - other))
    for name, seconds in rows:
        lines.append(f"  {name:44s} {1e3 * seconds / steps:8.1f} ms  {100 * seconds / wall:5.1f} %")
    top = ", ".join(f"{key} {1e3 * sec / steps:.1f} ms" for sec, key in sorted(others, reverse=True)[:6])
    lines.append(f"  largest of the other ops, per step: {top}")
    return "\n".join(lines)


def profile_report(profile: cProfile.Profile, steps: int) -> str:
    """Where a lab training step goes: cumulative time of the functions that make it, per timed step.
    cProfile slows Python-heavy parts (logging, hooks) more than the tensor work; shares are indicative."""
    stats = pstats.Stats(profile)
    rows = {(f[0], f[2]): v for f, v in stats.stats.items()}  # (file, function) -> (cc, nc, tt, ct, callers)

    def cum(file_part: str, function: str) -> float:
        return sum(v[3] for (file, fn), v in rows.items() if file_part in file and fn == function)

    total = stats.total_tt
    parts = [
        ("data: DataLoader fetch + collation", cum("torch/utils/data/dataloader", "__next__")),
        ("  of which collate_features", cum("labelsmooth/data/ner_features", "collate_features")),
        ("training_step (forward, loss, self.log)", cum("labelsmooth/tasks/base", "training_step")),
        ("  forward (heads: encoder + classifier)", cum("labelsmooth/tasks/ner", "heads")),
        ("  loss + smoothing statistics (compute)", cum("labelsmooth/smoothing/losses", "compute")),
        ("  self.log calls (training_step, callback)", cum("pytorch_lightning/core/module", "log")),
        ("backward", cum("torch/_tensor", "backward")),
        ("gradient clipping", cum("pytorch_lightning/core/module", "clip_gradients")),
        ("optimizer.step (AdamW)", cum("torch/optim/adamw", "adamw") + cum("torch/optim/adam", "adam")),
        ("zero_grad", cum("torch/optim/optimizer", "zero_grad")),
        ("lr scheduler", cum("torch/optim/lr_scheduler", "step")),
        ("SmoothingCallback.on_train_batch_end", cum("labelsmooth/smoothing/callback", "on_train_batch_end")),
        (
            "SmoothingCallback.on_train_batch_start",
            cum("labelsmooth/smoothing/callback", "on_train_batch_start"),
        ),
        ("all callbacks' hooks", cum("pytorch_lightning/trainer/call", "_call_callback_hooks")),
        ("logger connector (metrics bookkeeping)", cum("logger_connector", "update_train_step_metrics")),
    ]
    lines = [f"profile of the lab's {steps} timed steps (cProfile; per step and share of the step):"]
    lines.append(f"  {'whole step':44s} {1e3 * total / steps:8.1f} ms  100.0 %")
    for name, seconds in parts:
        lines.append(f"  {name:44s} {1e3 * seconds / steps:8.1f} ms  {100 * seconds / total:5.1f} %")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(15)
    lines.append("top functions by own time:")
    lines += ["  " + line for line in out.getvalue().splitlines() if line.strip()][-16:]
    return "\n".join(lines)


def median_range(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} (range {min(values):.1f}–{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="training steps per round and path")
    parser.add_argument("--warmup", type=int, default=3, help="first steps of each round left out of timing")
    parser.add_argument("--model", default=None, help="encoder name or path (default: the config's MiniLM)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tiny", action="store_true", help="a random 2-layer BERT (model=tiny), for tests")
    parser.add_argument(
        "--unfused", action="store_true", help="the lab with a per-parameter AdamW loop (fused=False)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for both paths (0: torch's default). 1 by default: on a shared 2-core "
        "machine two threads that wait for each other make every op several times slower, at random",
    )
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides of the lab's config (task.datamodule.batch_size=16)"
    )
    parser.add_argument("--profile", action="store_true", help="profile one more lab round (cProfile)")
    parser.add_argument(
        "--op-profile", action="store_true", help="one more lab round under torch.profiler: time by op group"
    )
    parser.add_argument("--profile-out", type=Path, help="with --profile: also save the pstats file here")
    args = parser.parse_args()
    if args.steps <= args.warmup:
        parser.error(f"--steps {args.steps} must exceed --warmup {args.warmup}")
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfg = compose_lab_config(args, tmp, not args.unfused)
        from hydra.utils import instantiate

        datamodule = instantiate(cfg.task.datamodule)
        datamodule.setup("fit")
        results: dict[str, dict[str, list[float]]] = {
            p: {"train": [], "eval": [], "eval_e2e": [], "loss": [], "mfu": [], "eval_mfu": []}
            for p in ("lab", "hf")
        }
        flops = model_flops(cfg)
        per_val_example = val_flops_per_example(datamodule, flops)
        optim, profile, peaks = "", None, []
        for r in range(args.rounds):
            peaks.append(peak_matmul_flops())  # each round's own peak: the machine's speed drifts
            for path in ("lab", "hf"):
                torch.manual_seed(cfg.seed + r)
                clock = StepClock()
                if path == "lab":
                    eval_seconds = run_lab(cfg, datamodule, clock, tmp, args.warmup, None)
                else:
                    eval_seconds, optim = run_hf(cfg, datamodule, clock, tmp, args)
                res = results[path]
                res["train"].append(clock.examples_per_second(args.warmup))
                res["eval"].append(clock.eval_examples_per_second())
                res["eval_e2e"].append(len(datamodule.dataset("val")) / eval_seconds)
                res["loss"].append(float(clock.loss))
                res["mfu"].append(clock.train_flops_per_second(args.warmup, flops) / peaks[-1])
                res["eval_mfu"].append(res["eval"][-1] * per_val_example / peaks[-1])
        if args.profile:  # one more lab round, untimed: the profiler slows what it watches
            profile = cProfile.Profile()
            run_lab(cfg, datamodule, StepClock(), tmp, args.warmup, profile)
        op_profile = None
        if args.op_profile:
            op_profile = TorchOpProfile()
            run_lab(cfg, datamodule, StepClock(), tmp, args.warmup, op_profile)

    model = "tiny random BERT (model=tiny)" if args.tiny else (args.model or cfg.model.name_or_path)
    lab_optim = "AdamW(fused=False)" if args.unfused else "the config's AdamW(fused=True)"
    print(
        f"model {model}; batch {args.batch_size}; {args.steps} steps per round "
        f"({args.warmup} warm-up untimed); "
        f"{args.rounds} rounds; torch threads {torch.get_num_threads()}; device "
        f"{'cuda' if torch.cuda.is_available() else 'cpu'}"
    )
    encoder = "packed (real tokens only)" if cfg.model.get("pack") else "padded"
    print(f"lab: {lab_optim}, encoder {encoder}; HF Trainer optimiser (its default): {optim}, padded")
    print(
        f"peak: {median_range([p / 1e9 for p in peaks])} GFLOP/s (2048² fp32 torch.mm, best of 5 per round, "
        f"{torch.get_num_threads()} thread(s)); model FLOPs per training token 6·{flops.weights / 1e6:.2f} M "
        f"+ attention 12·L·H·T (ModelFlops)"
    )
    for path, name in (("lab", "lab (Lightning)"), ("hf", "HF Trainer")):
        res = results[path]
        print(f"{name:16s} train examples/s {median_range(res['train'])}")
        print(f"{name:16s} eval examples/s  {median_range(res['eval'])} (loop)")
        print(f"{name:16s} eval examples/s  {median_range(res['eval_e2e'])} (whole validate/evaluate call)")
        mfu, eval_mfu = [100 * x for x in res["mfu"]], [100 * x for x in res["eval_mfu"]]
        print(f"{name:16s} train MFU %      {median_range(mfu)} (model FLOP/s / peak)")
        print(f"{name:16s} eval MFU %       {median_range(eval_mfu)} (loop)")
        losses = ", ".join(f"{x:.4f}" for x in res["loss"])
        print(f"{name:16s} training loss per round (lab: last step, HF: mean): {losses}")
    if op_profile is not None:
        print(op_report(op_profile, args.steps - args.warmup))
    if profile is not None:
        print(profile_report(profile, args.steps - args.warmup))
        if args.profile_out:
            profile.dump_stats(args.profile_out)
    ratios = [a / b for a, b in zip(results["lab"]["train"], results["hf"]["train"], strict=True)]
    print(f"per-round train ratios (lab / HF): {', '.join(f'{x:.2f}' for x in ratios)}")
    lab_mfu = statistics.median(results["lab"]["mfu"])
    print(f"train MFU (lab): {100 * lab_mfu:.1f} % of the measured peak")
    print(f"train throughput ratio (lab / HF Trainer): {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
