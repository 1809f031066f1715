"""BERT-base token-classification training speed on one accelerator: tokens/s and model FLOPs utilisation.

Self-contained (torch + transformers, no download): BERT-base from `transformers.BertConfig()` defaults with
a 9-tag head, trained on synthetic NER batches (random token ids and tags, B×T) with bf16 autocast, TF32
matmuls, fused AdamW and optionally `torch.compile`. MFU = model FLOP/s / peak: the model FLOPs are
labelsmooth.models.flops' (the matrix arithmetic, attention included, embeddings not; the same count as
bench_train_throughput.py's), the peak the card's dense bf16 FLOP/s from the table below (`--peak-flops` to
override). Warm-up steps are not timed; the clock is read after
`torch.cuda.synchronize()`.
`python benchmarks/bench_gpu.py [--batch-size 32] [--seq-len 128] [--steps 50] [--warmup 10] [--compile]`
`--tiny` (a 2-layer, 64-wide BERT) runs anywhere, on CPU too (MFU then n/a), for tests.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import BertConfig, BertForTokenClassification

from labelsmooth.models.flops import ModelFlops

# dense bf16 FLOP/s (no sparsity), by a substring of torch.cuda.get_device_name()
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12}


def peak_flops(device: torch.device, override: float | None) -> tuple[float | None, str]:
    if override:
        return override, "--peak-flops"
    if device.type != "cuda":
        return None, "cpu"
    name = torch.cuda.get_device_name(device)
    return next(((v, name) for k, v in PEAK_BF16.items() if k in name), (None, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation, autotune)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--tiny", action="store_true", help="2 layers, 64 wide: a smoke test, on CPU too")
    parser.add_argument("--peak-flops", type=float, default=None, help="the card's peak FLOP/s (bf16 dense)")
    parser.add_argument("--cpu", action="store_true", help="run on CPU even where CUDA is available")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")
    torch.manual_seed(0)
    small = {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128}
    config = BertConfig(num_labels=9, **(small if args.tiny else {}))
    model = BertForTokenClassification(config).to(device).train()
    n_params = sum(p.numel() for p in model.parameters())
    # fused AdamW on CUDA and (torch ≥ 2.4) on CPU; no weight decay on biases and LayerNorm weights
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=5e-5, fused=True)
    step_model = torch.compile(model) if args.compile else model

    b, t = args.batch_size, args.seq_len
    gen = torch.Generator(device="cpu").manual_seed(0)
    batches = [
        {
            "input_ids": torch.randint(1000, config.vocab_size, (b, t), generator=gen),
            "attention_mask": torch.ones(b, t, dtype=torch.long),
            "labels": torch.randint(0, 9, (b, t), generator=gen),
        }
        for _ in range(4)
    ]
    batches = [{k: v.to(device) for k, v in batch.items()} for batch in batches]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step(i: int) -> torch.Tensor:
        with autocast:
            loss = step_model(**batches[i % len(batches)]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for i in range(args.warmup):
        step(i)
    sync()
    start = time.perf_counter()
    for i in range(args.steps):
        loss = step(i)
    sync()
    seconds = time.perf_counter() - start

    tokens_per_s = args.steps * b * t / seconds
    peak, card = peak_flops(device, args.peak_flops)
    flops = ModelFlops.of(config, 9).train(b * t, b * t * t) * args.steps / seconds
    mfu = f"{flops / peak:.1%}" if peak else "n/a"
    precision = "bf16 autocast, TF32 matmuls" if device.type == "cuda" else "fp32"
    print(
        f"BERT-{'tiny' if args.tiny else 'base'} token classification, {n_params / 1e6:.1f}M parameters; "
        f"B×T {b}×{t}; {precision}; fused AdamW; compile {args.compile}; device {card}; "
        f"{args.steps} timed steps after {args.warmup} warm-up"
    )
    print(f"final loss {loss.item():.4f}; step {1e3 * seconds / args.steps:.1f} ms")
    print(f"tokens/s: {tokens_per_s:,.0f}")
    print(f"model FLOP/s: {flops:.3g}")
    print(f"MFU (model FLOP/s over {f'{peak:.3g} FLOP/s' if peak else 'no known peak'}): {mfu}")


if __name__ == "__main__":
    main()
