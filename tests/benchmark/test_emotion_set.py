"""The emotion image set for NovEmoFake: found under the data root or given, else a clear 'not available'."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from benchmark.emotion_set import EmotionSetProvider, EmotionSetUnavailable, candidate_dirs
from benchmark.encoders.cache import FeatureCache
from tests.benchmark.encoders.test_encoders_cache import CountingImage


def _image(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


def test_candidates_explicit_folder_wins(tmp_path):
    assert candidate_dirs(tmp_path) == [tmp_path / "unbiasedemo", tmp_path / "artphoto"]
    assert candidate_dirs(tmp_path, tmp_path / "mine") == [tmp_path / "mine"]
    assert candidate_dirs(None) == []


def test_missing_set_says_where_it_looked(tmp_path):
    provider = EmotionSetProvider(tmp_path, CountingImage(), FeatureCache(tmp_path / "cache"))
    with pytest.raises(EmotionSetUnavailable) as info:
        provider(None)
    assert str(info.value).startswith("not available: no emotion image set (looked for "
                                      f"{tmp_path / 'unbiasedemo'}, {tmp_path / 'artphoto'})")


def test_unbiasedemo_and_artphoto_combined_and_encoded_once(tmp_path):
    _image(tmp_path / "unbiasedemo" / "joy" / "people" / "a.jpg", (250, 0, 0))
    _image(tmp_path / "unbiasedemo" / "anger" / "b.jpg", (0, 250, 0))
    _image(tmp_path / "artphoto" / "fear_1.jpg", (0, 0, 250))
    encoder = CountingImage()
    built = []
    provider = EmotionSetProvider(tmp_path, lambda: built.append(1) or encoder, FeatureCache(tmp_path / "cache"))
    features, labels = provider(None)
    assert features.shape == (3, CountingImage.dim)
    assert sorted(labels.tolist()) == [0, 1, 1]  # joy -> 0, anger and fear -> 1
    provider(None)  # memoised: the encoder is built once
    assert built == [1]
