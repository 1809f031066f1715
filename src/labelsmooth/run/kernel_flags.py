"""Process-wide kernel settings, set once the trainer is built (labelsmooth.cli.train, the benchmarks).

In a module of its own, not in cli/train.py: `python -m labelsmooth.cli.train -m hydra/launcher=joblib`
pickles that module's functions by value (it is __main__), and cloudpickle cannot pickle the
`torch.utils.deterministic` module object this function touches.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch


def set_kernel_flags(trainer: pl.Trainer) -> None:
    """Process-wide kernel settings, once the trainer is built.

    `deterministic: true` (Lightning's torch.use_deterministic_algorithms) also fills every new tensor with
    NaN (`torch.utils.deterministic.fill_uninitialized_memory`), a debugging aid against ops that read
    memory never written. No op of ours does (a NaN read would reach the loss), and the fills were 7 % of a
    CPU training step (`aten::fill_`, benchmarks/bench_train_throughput.py --op-profile): off, the kernels
    stay deterministic and the metrics are the same digits. TF32 matmuls under mixed precision only:
    `32-true` on a GPU stays true float32."""
    torch.utils.deterministic.fill_uninitialized_memory = False
    if trainer.strategy.root_device.type == "cuda":
        mixed = str(trainer.precision).endswith("-mixed")
        torch.set_float32_matmul_precision("high" if mixed else "highest")
