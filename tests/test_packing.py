"""Packed encoder calls equal Hugging Face's padded ones on real tokens: values, gradients, a whole run."""

from __future__ import annotations

from copy import deepcopy

import pytest
import torch
from conftest import read_metrics, run_entry
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AlbertConfig, AutoModel, BertConfig, RobertaConfig

from labelsmooth.models.packing import PACKED_ATTENTION, encode, packed_attention_for
from labelsmooth.models.specs import EncoderSpec

TINY = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64}
CONFIGS = {
    "bert": BertConfig(vocab_size=100, **TINY),
    # ALBERT: factorised embeddings (16 → 32) and one layer shared by both depths.
    "albert": AlbertConfig(vocab_size=100, embedding_size=16, **TINY),
}


def padded_and_packed(kind: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Two copies of one randomly initialised encoder: transformers' default attention, and packed."""
    # One config object each: transformers writes the attention choice into the config it is given.
    config, copy = CONFIGS[kind], deepcopy(CONFIGS[kind])
    torch.manual_seed(0)
    padded = AutoModel.from_config(config, add_pooling_layer=False)
    attention = packed_attention_for(copy)
    packed = AutoModel.from_config(copy, add_pooling_layer=False, attn_implementation=attention)
    packed.load_state_dict(padded.state_dict())
    return padded.eval(), packed.eval()


MODELS = {kind: padded_and_packed(kind) for kind in CONFIGS}


def random_batch(lengths: list[int], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    batch, width = len(lengths), max(lengths)
    mask = (torch.arange(width)[None] < torch.tensor(lengths)[:, None]).long()
    ids = torch.randint(1, 100, (batch, width), generator=g) * mask  # 0 = [PAD] at the padding
    types = (torch.rand(batch, width, generator=g) < 0.5).long() * mask  # question / context segments
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(sorted(CONFIGS)),
    lengths=st.lists(st.integers(1, 24), min_size=1, max_size=6),
    seed=st.integers(0, 10**6),
    with_types=st.booleans(),
)
def test_packed_hidden_states_equal_the_padded_call_on_real_tokens(kind, lengths, seed, with_types):
    padded, packed = MODELS[kind]
    batch = random_batch(lengths, seed)
    if not with_types:
        del batch["token_type_ids"]
    with torch.no_grad():
        reference = padded(**batch).last_hidden_state
        ours = encode(packed, **batch)
    real = batch["attention_mask"].bool()
    assert ours.shape == reference.shape
    torch.testing.assert_close(ours[real], reference[real], atol=1e-5, rtol=0)
    assert not ours[~real].any()  # padding rows are zeros, which every task masks


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_packed_gradients_equal_the_padded_call(kind):
    padded, packed = MODELS[kind]
    batch = random_batch([7, 1, 12, 3], seed=1)
    real = batch["attention_mask"].bool()
    weights = torch.randn(real.sum().item(), CONFIGS[kind].hidden_size)

    def grads(model, hidden) -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        (hidden[real] * weights).sum().backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    reference = grads(padded, padded(**batch).last_hidden_state)
    ours = grads(packed, encode(packed, **batch))
    assert ours.keys() == reference.keys() and len(ours) > 10
    for name in reference:
        torch.testing.assert_close(ours[name], reference[name], atol=1e-5, rtol=1e-4, msg=name)


def test_a_packed_sequence_does_not_see_its_batch_neighbours():
    # The law packing must keep: a sequence's states depend on its own tokens only, whatever shares its batch.
    padded, packed = MODELS["bert"]
    alone = random_batch([9], seed=3)
    crowd = random_batch([9, 20, 4], seed=4)
    for key in ("input_ids", "token_type_ids"):  # row 0 of the crowd is the lone sentence
        crowd[key][0] = 0
        crowd[key][0, :9] = alone[key][0]
    with torch.no_grad():
        in_crowd, on_its_own = encode(packed, **crowd)[0, :9], encode(packed, **alone)[0]
    torch.testing.assert_close(in_crowd, on_its_own, atol=1e-5, rtol=0)


def test_a_packed_encoder_refuses_a_padded_call():
    _, packed = MODELS["bert"]
    with pytest.raises(RuntimeError, match="labelsmooth.models.packing.encode"):
        packed(**random_batch([3, 2], seed=0))


def test_an_unverified_encoder_type_is_refused_before_any_weights_load():
    with pytest.raises(ValueError, match="model.pack=true: .*not 'roberta'; set model.pack=false"):
        packed_attention_for(RobertaConfig())


@pytest.mark.parametrize("pack", [True, False])
def test_the_spec_builds_the_attention_it_names(pack):
    spec = EncoderSpec(pretrained=False, config_overrides=TINY, pack=pack)
    encoder = spec.build()
    assert (encoder.config._attn_implementation == PACKED_ATTENTION) is pack
    assert encoder.training  # dropout on, as the lab trains
    batch = random_batch([5, 2], seed=0)
    assert encode(encoder.eval(), **batch).shape == (2, 5, TINY["hidden_size"])


@pytest.mark.slow
def test_with_dropout_off_a_packed_run_trains_as_the_padded_one(tmp_path):
    # Dropout is the only thing packing changes in training (its masks cover n tokens, not B·T positions):
    # without it, a QA run (token types, pointer masks, backward, optimiser) is the padded run up to float
    # summation order.
    no_dropout = [
        f"+model.config_overrides.{k}=0.0" for k in ("hidden_dropout_prob", "attention_probs_dropout_prob")
    ]
    args = ["-m", "task=qa", "model=tiny", "data.n_paragraphs_train=12", "data.n_paragraphs_val=4"]
    args += [
        "data.n_paragraphs_test=4",
        "trainer.max_epochs=2",
        "logger=none",
        *no_dropout,
        "model.pack=true,false",
    ]
    run_entry([*args, f"hydra.sweep.dir={tmp_path}"], cwd=tmp_path)
    packed, padded = read_metrics(tmp_path / "0"), read_metrics(tmp_path / "1")
    assert packed["val/nll"] == pytest.approx(padded["val/nll"], rel=1e-6, abs=0)
    assert packed["test/f1"] == padded["test/f1"] and packed["test/exact"] == padded["test/exact"]
