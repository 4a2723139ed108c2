"""``--on-missing-image blank``: every registered model trains and predicts on posts without an image.

The set is tiny and synthetic (some posts and some background sources have no image); features go
through the real featurisation and cache with small deterministic stand-in encoders, so the test
exercises the zero image rows and the ``has_image`` / ``has_source`` flags every model receives.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.data.schema import DatasetSplits, NewsItem
from benchmark.encoders.base import ImageEncoder, ImageFeatures, TextEncoder, TextFeatures
from benchmark.encoders.cache import FeatureCache
from benchmark.encoders.featurize import build_feature_splits
from benchmark.engine import train_model
from benchmark.models.base import PrepareContext
from benchmark.registry import MODELS, load_plugins
from benchmark.loading import with_kmeans_events
from benchmark.variants import build_model, resolve_config

load_plugins()


class HashTextEncoder(TextEncoder):
    """Deterministic word vectors from a hash: enough signal for a model to train on."""

    name, dim, max_length = "hash-text", 16, 8
    identity = "text:hash-test|dim=16|max_length=8"

    def encode(self, texts: list[str]) -> TextFeatures:
        tokens = torch.zeros(len(texts), self.max_length, self.dim, dtype=torch.float16)
        mask = torch.zeros(len(texts), self.max_length, dtype=torch.bool)
        for row, text in enumerate(texts):
            words = (text.split() or [""])[: self.max_length]
            for col, word in enumerate(words):
                seed = int(hashlib.sha1(word.encode()).hexdigest()[:8], 16)
                tokens[row, col] = torch.randn(self.dim, generator=torch.Generator().manual_seed(seed)).half()
                mask[row, col] = True
        pooled = tokens.float().sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
        return TextFeatures(tokens=tokens, mask=mask, pooled=pooled)


class ColourImageEncoder(ImageEncoder):
    """Mean colour per quadrant, tiled to the feature width."""

    name, dim, regions = "colour", 12, 4
    identity = "image:colour-test|dim=12|regions=4"

    def encode(self, images: list[Image.Image]) -> ImageFeatures:
        out = torch.zeros(len(images), self.regions, self.dim)
        for row, image in enumerate(images):
            pixels = torch.from_numpy(np.asarray(image.resize((2, 2)), dtype=np.float32)).reshape(4, 3) / 255.0
            out[row] = pixels.repeat(1, self.dim // 3)
        return ImageFeatures(regions=out.half(), pooled=out.mean(1))


def _tiny_set(folder: Path) -> DatasetSplits:
    folder.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[NewsItem]] = {"train": [], "validation": [], "test": []}
    sizes = {"train": 24, "validation": 8, "test": 8}
    k = 0
    for split, n in sizes.items():
        for i in range(n):
            label = i % 2
            image = source_image = ()
            if k % 3 != 0:  # every third post has no image
                path = folder / f"p{k}.png"
                Image.new("RGB", (8, 8), (200 * label, 40 + k, 90)).save(path)
                image = (path,)
            if k % 4 == 1:  # some background sources have an image
                path = folder / f"s{k}.png"
                Image.new("RGB", (8, 8), (30, 200 * label, k)).save(path)
                source_image = (path,)
            splits[split].append(NewsItem(
                item_id=f"{split}-{i}", text=f"{'fake claim' if label else 'real report'} number {k} about town",
                image_paths=image, label=label, source_text=f"source for {k}" if k % 2 else None,
                source_image_paths=source_image, emotion=(k // 2) % 2 if image else None))
            k += 1
    return DatasetSplits(name="blank-tiny", **splits, source="synthetic", notes=["on_missing_image=blank"])


@pytest.fixture(scope="module")
def blank_features(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blank")
    splits = _tiny_set(folder / "images")
    features = build_feature_splits(splits, HashTextEncoder(), ColourImageEncoder(), FeatureCache(folder / "cache"))
    return with_kmeans_events(features, k=3), folder


def test_blank_rows_are_zero_and_flagged(blank_features):
    features, _ = blank_features
    table = features.train
    has_image = table.get("has_image")
    assert has_image.dtype == torch.bool and 0 < int(has_image.sum()) < len(has_image)
    pooled = table.get("image_pooled")
    assert torch.all(pooled[~has_image] == 0) and torch.all(pooled[has_image].abs().sum(1) > 0)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_registered_model_trains_on_posts_without_images(name, blank_features):
    features, folder = blank_features
    torch.manual_seed(0)
    config = resolve_config(name, "default", {"max_epochs": 1})
    model = build_model(name, config, features.dims)
    context = PrepareContext(device=torch.device("cpu"), seed=0, cache_dir=folder / "pretrained")
    result = train_model(model, features, seed=0, device="cpu", prepare_context=context)
    losses = result.history.select_dtypes("number")
    assert len(losses) == 1 and not losses.isna().any().any(), (name, losses.to_dict("records"))
    frame = result.test.frame(features.test.item_ids)
    assert len(frame) == len(features.test)
    assert frame["p_fake"].notna().all() and frame["p_fake"].between(0, 1).all(), name
    blank = ~features.test.get("has_image")
    assert bool(blank.any())  # the test split really holds posts without an image
    assert all(math.isfinite(v) for v in result.test.metrics.values() if isinstance(v, float)), name
