"""Model specs are plain data in checkpoints: rebuilt from a fixed table of classes, under their current
names and the names checkpoints written before the package was reorganised store."""

from __future__ import annotations

import pytest

from labelsmooth.models.specs import MLPSpec, as_config, as_spec


def test_a_spec_round_trips_through_its_checkpoint_dict():
    spec = MLPSpec(hidden=7)
    assert as_config(spec)["_target_"] == "labelsmooth.models.specs.MLPSpec"
    assert as_spec(as_config(spec)) == spec


def test_a_checkpoint_of_the_old_layout_still_names_its_spec():
    old = as_config(MLPSpec(hidden=5)) | {"_target_": "labelsmooth.specs.MLPSpec"}
    assert as_spec(old) == MLPSpec(hidden=5)


@pytest.mark.parametrize("target", ["os.system", "labelsmooth.models.specs.nn", None])
def test_any_other_target_is_refused(target):
    with pytest.raises(ValueError, match="expected one of"):
        as_spec({"_target_": target, "hidden": 3})
