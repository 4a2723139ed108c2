"""Per-image extra features (MCNN's ELA map) are computed only for runs whose rows need them."""

from __future__ import annotations

from benchmark.registry import load_plugins
from benchmark.loading import RunOptions, extra_image_features

load_plugins()


def test_extra_image_features_follow_the_selected_rows():
    assert extra_image_features(RunOptions(suite="table1")) == ("ela",)
    assert extra_image_features(RunOptions(suite="table1", rows=("MCNN",))) == ("ela",)
    assert extra_image_features(RunOptions(suite="table1", rows=("COOLANT", "CMC"))) == ()
    assert extra_image_features(RunOptions(suite="table5")) == ()
    assert extra_image_features(RunOptions(suite="smoke")) == ("ela",)  # every registered model
    assert extra_image_features(RunOptions(suite="sweep")) == ("ela",)  # not a suite: whatever a model declares
