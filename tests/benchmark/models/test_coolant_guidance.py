"""COOLANT's ambiguity guidance on the synthetic set: g must vary per item after training.

Filed finding (issue 13): with an attached KL target, L_AG drove g to the constant sigmoid(1) for every
item. Light deterministic stand-in encoders keep this a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ablations.coolant  # noqa: F401
from benchmark.data.spec import LoadOptions
from benchmark.encoders.cache import FeatureCache
from benchmark.encoders.featurize import build_feature_splits
from benchmark.engine import train_model
from benchmark.registry import DATASETS, load_plugins
from benchmark.variants import build_model, resolve_config
from tests.benchmark.encoders.test_encoders_cache import CountingImage, CountingText


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    load_plugins()
    root = tmp_path_factory.mktemp("coolant-guidance")
    splits = DATASETS.get("synthetic-demo").load(None, LoadOptions(seed=0, workdir=root))
    return build_feature_splits(splits, CountingText(max_length=12), CountingImage(), FeatureCache(root / "f"))


def _test_g(features, **overrides) -> tuple[torch.Tensor, "object"]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model("coolant", resolve_config("coolant", "default", {"max_epochs": 10, **overrides}),
                            features.dims)
        result = train_model(model, features, seed=0)
        model.eval()
        with torch.no_grad():
            batch = features.test.batch(torch.arange(len(features.test)), set(model.requires), "cpu")
            batch.pop("label"), batch.pop("event")
            return model(batch).diagnostics["ambiguity"], result
    finally:
        torch.set_num_threads(previous)


def test_g_varies_per_item_and_is_logged_per_epoch(synthetic) -> None:
    g, result = _test_g(synthetic)
    assert g.std().item() > 0.01
    for column in ("ambiguity_mean", "ambiguity_std", "attention_w_text_mean", "attention_w_image_mean",
                   "attention_w_fusion_mean", "attention_w_text_std", "val_activity_attention_w_text_std"):
        assert column in result.history.columns and result.history[column].notna().all()
    weights = result.history[["attention_w_image_mean", "attention_w_text_mean",
                              "attention_w_fusion_mean"]].sum(axis=1)
    assert weights.sub(1.0).abs().max() < 1e-4  # a is a distribution


def test_only_the_attached_target_trains_the_ambiguity_encoders(synthetic) -> None:
    """The mechanism of the filed collapse: with Eq. 14's target attached (the released code) L_AG's
    gradient trains the ambiguity encoders (and through them m^v, m^t), which on real MediaEval drove g
    to the constant sigmoid(1); detached (the paper), nothing trains them and g stays a function of the
    trained m^v, m^t. (Whether g visibly collapses within a few synthetic epochs depends on float
    rounding of the trajectory, so the mechanism is what is asserted.)"""
    for detach in (True, False):
        torch.manual_seed(0)
        model = build_model("coolant", resolve_config("coolant", "default", {
            "max_epochs": 1, "detach_ambiguity_target": detach}), synthetic.dims)
        before = {k: v.clone() for k, v in model.ambiguity_image.state_dict().items()}
        train_model(model, synthetic, seed=0)
        after = model.ambiguity_image.state_dict()
        changed = [k for k, v in after.items() if not torch.equal(before[k], v)]
        assert bool(changed) == (not detach), (detach, changed)
