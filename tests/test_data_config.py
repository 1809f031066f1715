"""conf/data/*_synthetic.yaml against the code: the same keys as the constructors, the same defaults."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from labelsmooth.data import synthetic_conll, synthetic_squad
from labelsmooth.data.conll_sources import ConllSynthetic
from labelsmooth.data.squad import SquadSynthetic

CONF = Path(__file__).parents[1] / "conf" / "data"


@pytest.mark.parametrize(
    ("name", "source", "knobs"),
    [
        ("conll_synthetic", ConllSynthetic, synthetic_conll.Knobs()),
        ("squad_synthetic", SquadSynthetic, synthetic_squad.Knobs()),
    ],
)
def test_yaml_keys_are_the_constructor_arguments_and_knobs_are_the_code_defaults(name, source, knobs):
    conf = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    target = conf.pop("_target_")
    assert target == f"{source.__module__}.{source.__name__}"
    params = inspect.signature(source).parameters
    assert list(conf) == list(params)  # every argument is a key users can override, in the same order
    # The knob values are written in the dataclass; the YAML repeats them only because Hydra overrides
    # need the key to exist. This keeps the copy honest.
    assert {k: conf[k] for k in knobs.as_dict()} == knobs.as_dict()
    for key, param in params.items():
        if param.default is not inspect.Parameter.empty:
            assert conf[key] == param.default, key
