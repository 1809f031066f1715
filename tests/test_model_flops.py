"""labelsmooth.models.flops against torch's own FLOP counter (torch.utils.flop_counter) on a random BERT."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig, BertForTokenClassification

from labelsmooth.models.flops import ModelFlops, real_lengths

LABELS = 9


def bert(layers: int = 2, hidden: int = 32, intermediate: int = 48) -> BertForTokenClassification:
    config = BertConfig(
        vocab_size=100,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=intermediate,
        num_labels=LABELS,
        attn_implementation="eager",  # attention as two batched matmuls, which the counter counts
    )
    return BertForTokenClassification(config)


def counted(model, lengths: list[int], backward: bool) -> int:
    """FLOPs torch counts for the sentences, each run alone (no padding: every FLOP is a real one)."""
    with FlopCounterMode(display=False) as counter:
        for t in lengths:
            logits = model(input_ids=torch.randint(0, 100, (1, t))).logits
            if backward:
                logits.sum().backward()
    return counter.get_total_flops()


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 20), min_size=1, max_size=4), st.integers(1, 3), st.sampled_from([16, 32]))
def test_forward_flops_equal_torchs_count(lengths, layers, hidden):
    model = bert(layers, hidden, 2 * hidden).eval()
    flops = ModelFlops.of(model.config, LABELS)
    tokens, squares = sum(lengths), sum(t * t for t in lengths)
    with torch.no_grad():
        assert flops.forward(tokens, squares) == counted(model, lengths, backward=False)


def test_training_flops_are_three_forwards_and_equal_torchs_count():
    model = bert().train()
    model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = 0.0
    flops = ModelFlops.of(model.config, LABELS)
    lengths = [3, 7, 12]
    assert flops.train(22, 9 + 49 + 144) == counted(model, lengths, backward=True)


def test_weights_are_the_matrix_multiplications_only():
    model = bert(layers=2, hidden=32, intermediate=48)
    flops = ModelFlops.of(model.config, LABELS)
    # per layer Q, K, V, O (32×32) and the two feed-forward matrices (32×48), then the 32×9 head
    assert flops.weights == 2 * (4 * 32 * 32 + 2 * 32 * 48) + 32 * LABELS
    matrices = [p for n, p in model.named_parameters() if p.dim() == 2 and "embeddings" not in n]
    assert flops.weights == sum(p.numel() for p in matrices)


@pytest.mark.parametrize(("mask", "expected"), [([[1, 1, 0], [1, 1, 1]], (5, 13)), ([[1, 0, 0]], (1, 1))])
def test_real_lengths_count_only_the_unpadded_tokens(mask, expected):
    assert real_lengths(torch.tensor(mask)) == expected
