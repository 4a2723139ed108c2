"""Error-level analysis (MCNN's tampering input): zero on an exactly re-encodable image, higher where
an image was edited after its last save, pooled to the grid by hand, and carried through featurising."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.encoders import ela
from benchmark.encoders.ela import ELAImageEncoder, ela_map


def _jpeg(image: Image.Image, quality: int = 75) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def test_uniform_grey_recompresses_exactly():
    assert float(ela_map(Image.new("RGB", (16, 16), (128, 128, 128))).abs().max()) == 0.0


def test_a_region_pasted_after_the_last_save_stands_out():
    rng = np.random.default_rng(0)
    base = Image.fromarray((rng.random((64, 64, 3)) * 60 + 90).astype(np.uint8))
    saved = _jpeg(_jpeg(base, 90), 90)  # settled at quality 90: re-saving changes little
    pasted = saved.copy()
    patch = Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8))  # never compressed
    pasted.paste(patch, (32, 0))
    m = ela_map(pasted)
    edited, untouched = m[:, :32, 32:].mean(), m[:, 32:, :32].mean()
    assert float(edited) > 3 * float(untouched)


def test_cells_are_block_means_in_row_major_order(monkeypatch):
    diff = torch.arange(3 * 4 * 4, dtype=torch.float32).reshape(3, 4, 4)
    monkeypatch.setattr(ela, "ela_map", lambda image, quality: diff)
    feats = ELAImageEncoder(grid=2).encode([Image.new("RGB", (4, 4))])
    assert feats.regions.shape == (1, 4, 3) and feats.regions.dtype == torch.float16
    # channel 0, top-right cell: mean of 2, 3, 6, 7
    assert feats.regions[0, 1, 0].item() == pytest.approx((2 + 3 + 6 + 7) / 4)
    # channel 2, bottom-left cell: 32 + mean of 8, 9, 12, 13
    assert feats.regions[0, 2, 2].item() == pytest.approx(32 + (8 + 9 + 12 + 13) / 4)
    assert torch.allclose(feats.pooled, feats.regions.float().mean(1))
    assert ELAImageEncoder().identity != ELAImageEncoder(quality=80).identity


def test_featurising_adds_the_ela_key_with_zeros_for_posts_without_an_image(tmp_path):
    from benchmark.data.schema import DatasetSplits, NewsItem
    from benchmark.encoders.cache import FeatureCache
    from benchmark.encoders.featurize import build_feature_splits
    from tests.benchmark.data.test_blank_images import ColourImageEncoder, HashTextEncoder

    rng = np.random.default_rng(1)
    items = {}
    for split in ("train", "validation", "test"):
        rows = []
        for i in range(3):
            paths = ()
            if i:
                path = tmp_path / f"{split}{i}.png"
                Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).save(path)
                paths = (path,)
            rows.append(NewsItem(item_id=f"{split}{i}", text=f"post {i}", image_paths=paths, label=i % 2))
        items[split] = rows
    splits = DatasetSplits(name="ela-tiny", **items, source="synthetic")
    features = build_feature_splits(splits, HashTextEncoder(), ColourImageEncoder(), FeatureCache(tmp_path / "c"),
                                    extra_image_encoders={"ela": ELAImageEncoder()})
    table = features.train
    cells = table.get("image_ela")
    assert cells.shape == (3, ela.GRID ** 2, 3)
    assert torch.all(cells[0] == 0) and bool((cells[1:].float().sum((1, 2)) > 0).all())
    assert features.encoders["image_ela"] == ELAImageEncoder().identity
    expected = ELAImageEncoder().encode([Image.open(tmp_path / "train1.png").convert("RGB")]).regions[0]
    assert torch.equal(cells[1], expected)
