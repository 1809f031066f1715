"""The arithmetic a BERT-style token classifier needs per batch: the numerator of model FLOPs utilisation.

PaLM's convention (Chowdhery et al. 2022, appendix B), with attention counted per sentence: for L layers of
width H, feed-forward width I and C labels, the matrix multiplications hold N = L·(4H² + 2HI) + HC weights.
A token costs 2N FLOPs forward and 6N in training (the backward pass multiplies twice: by the weights and
for their gradient); attention's two products, QKᵀ and AV, cost 4·L·H·T forward per token of a sentence of
T tokens, so 4·L·H·ΣT² per batch forward and three times that in training. Not counted: embedding lookups,
biases, LayerNorm, GELU, softmax, dropout, the loss, the optimiser, and any work on padding. They are not
the model's matrix arithmetic, and a padded batch's extra FLOPs are waste, not utilisation.
tests/test_model_flops.py checks the count against torch's own FLOP counter. The denominator is
`peak_matmul_flops`: what this machine's matrix multiplication reaches, measured where the MFU is.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ModelFlops:
    layers: int
    hidden: int
    intermediate: int
    labels: int

    @classmethod
    def of(cls, config, labels: int) -> ModelFlops:
        """From a Hugging Face encoder config (BERT, MiniLM; ALBERT's shared layer counts once per layer)."""
        return cls(config.num_hidden_layers, config.hidden_size, config.intermediate_size, labels)

    @property
    def weights(self) -> int:
        """N: the weights of the matrix multiplications a token passes through."""
        h = self.hidden
        return self.layers * (4 * h * h + 2 * h * self.intermediate) + h * self.labels

    def forward(self, tokens: int, squares: int) -> float:
        """FLOPs of one forward pass over `tokens` real tokens whose sentences' squared lengths sum to
        `squares`."""
        return 2.0 * self.weights * tokens + 4.0 * self.layers * self.hidden * squares

    def train(self, tokens: int, squares: int) -> float:
        """FLOPs of one training step (forward and backward) over the same tokens."""
        return 3.0 * self.forward(tokens, squares)


def real_lengths(attention_mask: torch.Tensor) -> tuple[int, int]:
    """(real tokens, sum of the sentences' squared lengths) of a batch's attention mask."""
    lengths = attention_mask.sum(dim=1).long()
    return int(lengths.sum()), int((lengths * lengths).sum())


def peak_matmul_flops(n: int = 2048, repeats: int = 5) -> float:
    """This machine's reachable fp32 FLOP/s on the current torch threads: the best of `repeats` n×n
    `torch.mm` (2n³ FLOPs each) after one untimed call. MFU divides by it, measured in the same run: the
    machine's speed drifts from day to day (and, on a shared VM, from minute to minute)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best
