"""Packed encoder calls: the encoder's layers see the batch's real tokens only, never its padding.

A padded batch (B, T) holding n real tokens runs the encoder as one row of n tokens: the embeddings,
the Q/K/V and output projections, the feed-forward layers and the LayerNorms do no work on padding,
which is 40 % of a shuffled NER batch (`benchmarks/bench_padding.py`) and almost all of an encoder's
FLOPs at these lengths. Only attention needs the sequences apart: `packed_attention` scatters Q, K and V
back to (B, heads, T, dim), runs SDPA with the key-padding mask, and gathers the real rows again.

It is registered with transformers' `AttentionInterface`, so Hugging Face's own BERT and ALBERT modules
run unchanged (transformers >= 5 routes their attention through that interface and hands it our keyword
arguments). In eval mode the hidden states of the real tokens equal the padded call's (bit for bit on
MiniLM here; tests/test_packing.py holds BERT and ALBERT to 1e-5, gradients too); in training, dropout
draws its masks over n tokens instead of B·T positions, so a packed run is another draw of the same random
process, not the padded run's digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PACKED_ATTENTION = "labelsmooth_packed"
# Encoders whose packing is verified (tests/test_packing.py): position ids 0..T-1 from each sequence's
# start, attention only through the interface. RoBERTa, for one, counts positions from its padding id.
PACKABLE_MODEL_TYPES = ("bert", "albert")


@dataclass(frozen=True)
class Packing:
    """Where a padded (B, T) batch's real tokens are: their flat indices and the key-padding mask."""

    index: Tensor  # (n,) positions in the flattened B·T batch, in reading order
    keep: Tensor  # (B, 1, 1, T) bool: True at real tokens (SDPA's key mask, broadcast over heads and queries)

    @classmethod
    def of(cls, attention_mask: Tensor) -> Packing:
        return cls(attention_mask.flatten().nonzero()[:, 0], attention_mask.bool()[:, None, None, :])

    def scatter(self, rows: Tensor) -> Tensor:
        """(n, ...) rows → (B·T, ...), zeros at the padding."""
        batch, length = self.keep.shape[0], self.keep.shape[-1]
        return rows.new_zeros(batch * length, *rows.shape[1:]).index_copy(0, self.index, rows)


def packed_attention(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    packing: Packing | None = None,
    **kwargs,
) -> tuple[Tensor, None]:
    """Attention over packed rows: (1, heads, n, dim) in, (1, n, heads, dim) out, as HF's functions."""
    if packing is None or attention_mask is not None:
        raise RuntimeError(
            f"{type(module).__name__}: an encoder built with model.pack=true runs through "
            "labelsmooth.models.packing.encode (got a padded call)"
        )
    batch, length = packing.keep.shape[0], packing.keep.shape[-1]
    heads, dim = query.shape[1], query.shape[-1]
    qkv = torch.stack((query[0], key[0], value[0])).permute(2, 0, 1, 3)  # (n, 3, heads, dim)
    padded = packing.scatter(qkv.reshape(qkv.shape[0], -1)).view(batch, length, 3, heads, dim)
    q, k, v = padded.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, dim)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=packing.keep, dropout_p=dropout, scale=scaling)
    out = out.transpose(1, 2).reshape(batch * length, heads, dim).index_select(0, packing.index)
    return out[None], None


def packed_attention_for(config) -> str:
    """Register `packed_attention` and return its name, for an encoder type packing is verified for."""
    if config.model_type not in PACKABLE_MODEL_TYPES:
        raise ValueError(
            f"model.pack=true: packing is verified for {', '.join(PACKABLE_MODEL_TYPES)} encoders, "
            f"not {config.model_type!r}; set model.pack=false"
        )
    import transformers
    from transformers import AttentionInterface

    # Before 5, BERT and ALBERT ignore the interface: their attention would mix the packed sequences.
    if int(transformers.__version__.split(".")[0]) < 5:
        raise ValueError(f"model.pack=true needs transformers>=5 (found {transformers.__version__})")
    AttentionInterface.register(PACKED_ATTENTION, packed_attention)
    return PACKED_ATTENTION


def encode(
    encoder: nn.Module, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None
) -> Tensor:
    """The encoder's last hidden states (B, T, H): packed when it was built with `model.pack=true`.

    The padded positions of a packed call hold zeros; every task masks them out.
    """
    if encoder.config._attn_implementation != PACKED_ATTENTION:
        return encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
    batch, length = input_ids.shape
    packing = Packing.of(attention_mask)
    # The padded call's position ids are 0..T-1 in every row; the packed row keeps each token's own.
    positions = packing.index % length
    types = torch.zeros_like(positions) if token_type_ids is None else token_type_ids.flatten()[packing.index]
    hidden = encoder(
        input_ids=input_ids.flatten()[packing.index][None],
        position_ids=positions[None],
        token_type_ids=types[None],
        packing=packing,
    ).last_hidden_state
    return packing.scatter(hidden[0]).view(batch, length, -1)
