"""Every re-implemented baseline: built through the registry and variants, forward + backward with
offline and paper-like feature widths, finite named losses, and learning on a separable batch."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import math  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

import ablations.baselines  # noqa: E402,F401  (registers the W/O BG / WBG variants)
import baselines  # noqa: E402,F401
from baselines.synthetic import random_batch, separable_batch  # noqa: E402
from benchmark.features import FeatureDims  # noqa: E402
from benchmark.models.base import ModelOutput  # noqa: E402
from benchmark.registry import MODELS, VARIANTS  # noqa: E402
from benchmark.variants import build_model, resolve_config  # noqa: E402

ALL_MODELS = ["eann", "mvae", "safe", "kmgcn", "visualbert", "text_only", "image_only", "bert_resnet",
              "cafe", "mcan", "mkemn", "mcnn", "liimr", "fnd_clip", "cmc"]
BACKGROUND_MODELS = ["text_only", "image_only", "bert_resnet", "visualbert", "safe", "eann", "kmgcn"]

OFFLINE = FeatureDims(text_dim=384, image_dim=1280, text_len=16, image_regions=49, has_source=True,
                      num_events=3)
PAPER = FeatureDims(text_dim=768, image_dim=512, text_len=16, image_regions=49, has_source=True,
                    num_events=10)
DIMS = {"offline": OFFLINE, "paper": PAPER}

EXPECTED_LOSSES = {
    "eann": {"total", "classification", "event"},
    "mvae": {"total", "classification", "text_reconstruction", "image_reconstruction", "kl"},
    "safe": {"total", "classification", "similarity"},
    "cafe": {"total", "classification", "alignment"},
}


def test_every_baseline_is_registered() -> None:
    for name in ALL_MODELS:
        assert name in MODELS
    for name in BACKGROUND_MODELS:
        assert f"{name}:default" in VARIANTS and f"{name}:wbg" in VARIANTS
        assert VARIANTS.get(f"{name}:wbg").label.endswith("(WBG)")
        assert VARIANTS.get(f"{name}:default").label.endswith("(W/O BG)")
        assert resolve_config(name, "wbg").use_background is True
        assert resolve_config(name, "default").use_background is False


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for name in ALL_MODELS:
        for dims_name in DIMS:
            cases.append((name, "default", dims_name))
            if name in BACKGROUND_MODELS:
                cases.append((name, "wbg", dims_name))
    return cases


@pytest.mark.parametrize("name,variant,dims_name", _cases())
def test_forward_backward(name: str, variant: str, dims_name: str) -> None:
    torch.manual_seed(0)
    dims = DIMS[dims_name]
    model = build_model(name, resolve_config(name, variant), dims)
    full = random_batch(dims, 4, with_source=(variant == "wbg"))
    assert model.requires <= set(full)
    # the engine gathers only ``model.requires`` (+ label, event, index): the model must need no more
    # (FeatureTable.batch gives image_row_inverse with image_regions_unique)
    batch = {k: v for k, v in full.items() if k in model.requires | {"label", "event", "index", "image_row_inverse"}}
    out = model(batch)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (4, 2)
    assert out.representation.dim() == 2 and out.representation.size(0) == 4
    assert "total" in out.losses
    assert EXPECTED_LOSSES.get(name, {"total", "classification"}) <= set(out.losses)
    for key, value in out.losses.items():
        assert value.dim() == 0 and torch.isfinite(value), (name, key, value)
    out.losses["total"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_inference_without_labels(name: str) -> None:
    model = build_model(name, resolve_config(name), OFFLINE).eval()
    batch = random_batch(OFFLINE, 3)
    del batch["label"]
    with torch.no_grad():
        out = model(batch)
    assert out.logits.shape == (3, 2) and out.losses == {}


TINY = {
    "visualbert": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64,
                   "head_hidden": (32,)},
    "mvae": {"image_hidden": 64},
    "kmgcn": {"node_dim": 32, "gcn_dims": (32, 32)},
    "mcan": {"model_dim": 32, "num_heads": 4, "ffn_dim": 64},
    "cafe": {"shared_dim": 32, "sim_dim": 16, "classifier_hidden": 16, "cnn_channels": 8},
    "mkemn": {"channel_dim": 16, "filters": 8, "memory_slots": 4},
    "mcnn": {"shared_dim": 32, "classifier_hidden": 16},
    "liimr": {"model_dim": 16, "num_heads": 2},
    "fnd_clip": {"clip_dim": 16, "shared_dim": 32, "prime_dim": 16},
    "cmc": {"hidden_dim": 16, "feat_dim": 8},
}


@pytest.mark.parametrize("name", ALL_MODELS)
def test_adam_steps_reduce_total_loss(name: str) -> None:
    torch.manual_seed(0)
    dims = FeatureDims(text_dim=24, image_dim=20, text_len=6, image_regions=4, has_source=True,
                       num_events=2)
    overrides = {"dropout": 0.0, **TINY.get(name, {})}
    config = resolve_config(name, "default", overrides)
    model = build_model(name, config, dims)
    batch = separable_batch(dims, 16, seed=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def total() -> float:
        model.eval()
        with torch.no_grad():
            value = float(model(batch).losses["total"])
        model.train()
        return value

    before = total()
    for _ in range(40):
        opt.zero_grad()
        model(batch).losses["total"].backward()
        opt.step()
    after = total()
    assert math.isfinite(after) and after < before, (name, before, after)


@pytest.mark.parametrize("name", BACKGROUND_MODELS)
def test_background_switch_reads_the_source_side(name: str) -> None:
    """WBG output depends on source features; W/O BG output ignores them."""
    for variant, should_change in (("default", False), ("wbg", True)):
        torch.manual_seed(0)
        model = build_model(name, resolve_config(name, variant), OFFLINE).eval()
        batch = random_batch(OFFLINE, 3, with_source=True, generator=torch.Generator().manual_seed(2))
        other = dict(batch)
        for key in list(batch):
            if key.startswith("source_") and batch[key].is_floating_point():
                other[key] = batch[key] + 1.0 + torch.rand_like(batch[key])
        with torch.no_grad():
            a, b = model(batch).logits, model(other).logits
        assert (not torch.allclose(a, b, atol=1e-6)) == should_change, (name, variant)


@pytest.mark.parametrize("name", BACKGROUND_MODELS)
def test_background_without_source_features_fails_clearly(name: str) -> None:
    dims = FeatureDims(text_dim=24, image_dim=20, text_len=6, image_regions=4, has_source=False)
    with pytest.raises(ValueError, match="use_background"):
        build_model(name, resolve_config(name, "wbg"), dims)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_search_space_keys_are_config_fields(name: str) -> None:
    class FakeTrial:
        def suggest_float(self, key, low, high, log=False):
            return low

        def suggest_int(self, key, low, high):
            return low

        def suggest_categorical(self, key, choices):
            return choices[0]

    overrides = MODELS.get(name).search_space(FakeTrial())
    config = resolve_config(name, "default", overrides)  # unknown keys would raise
    build_model(name, config, OFFLINE)
