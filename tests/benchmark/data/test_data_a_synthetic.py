"""The synthetic dataset: deterministic, real cross-modal inconsistencies, event-disjoint splits."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data import synthetic
from benchmark.data.schema import FAKE, REAL
from benchmark.data.spec import LoadOptions
from benchmark.data.synthetic import COLOURS, SIZES, WORDS, make_synthetic
from benchmark.registry import DATASETS


def _records(splits) -> list[tuple]:
    return [(name, i.item_id, i.text, i.label, i.event, i.emotion, i.image_path.name) for name, i in splits.items()]


def test_tiny_is_fast_deterministic_and_byte_identical(tmp_path: Path) -> None:
    start = time.perf_counter()
    first = make_synthetic("synthetic-tiny", 160, 0, tmp_path / "a")
    assert time.perf_counter() - start < 3.0
    second = make_synthetic("synthetic-tiny", 160, 0, tmp_path / "b")
    assert _records(first) == _records(second)
    for (_, one), (_, two) in zip(first.items(), second.items()):
        assert one.image_path.read_bytes() == two.image_path.read_bytes()
    assert first.fingerprint() == second.fingerprint()
    other = make_synthetic("synthetic-tiny", 160, 1, tmp_path / "a")
    assert [i.text for _, i in other.items()] != [i.text for _, i in first.items()]
    assert other.root != first.root


def test_images_are_reused_and_redrawn_when_parameters_change(tmp_path: Path) -> None:
    splits = make_synthetic("synthetic-tiny", 160, 0, tmp_path)
    path = splits.train[0].image_path
    assert path.is_file() and path.parent == tmp_path / "synthetic" / "synthetic-tiny-seed0" / "images"
    stamp = path.stat().st_mtime_ns
    make_synthetic("synthetic-tiny", 160, 0, tmp_path)
    assert path.stat().st_mtime_ns == stamp  # reused, not rewritten
    (path.parent / "params.json").write_text('{"params_hash": "stale"}', encoding="utf-8")
    path.unlink()
    make_synthetic("synthetic-tiny", 160, 0, tmp_path)
    assert path.is_file()


def test_splits_have_both_labels_and_disjoint_events(tmp_path: Path) -> None:
    splits = make_synthetic("synthetic-tiny", 160, 0, tmp_path)
    assert splits.source == "synthetic" and any("synthetic" in note for note in splits.notes)
    assert sum(c["total"] for c in splits.counts().values()) == 160
    for name, counts in splits.counts().items():
        assert counts["fake"] > 0 and counts["real"] > 0, name
    events = {name: {i.event for i in splits.split(name)} for name in ("train", "validation", "test")}
    assert not events["train"] & events["test"]
    assert not events["validation"] & events["test"]
    assert not events["train"] & events["validation"]
    assert all(i.emotion in (0, 1) for _, i in splits.items())
    assert {i.emotion for _, i in splits.items()} == {0, 1}
    assert len({i.item_id for _, i in splits.items()}) == 160


def test_captions_match_reals_and_contradict_fakes() -> None:
    plans = synthetic._plan(200, seed=5, language="en", with_source=False)
    kinds = {plan.fake_kind for plan in plans if plan.label == FAKE}
    assert kinds == set(synthetic.FAKE_KINDS)
    for plan in plans:
        faithful = [synthetic._describe(plan.drawn, "en", plan.event.place, plan.event.topic, t) for t in range(4)]
        if plan.label == REAL:
            assert any(text in plan.text for text in faithful), plan.text
        else:
            assert not any(text in plan.text for text in faithful), plan.text


def test_drawn_colour_is_really_in_the_image(tmp_path: Path) -> None:
    plans = synthetic._plan(60, seed=2, language="en", with_source=False)
    for plan in plans[:25]:
        image = synthetic.draw_image(plan.drawn, np.random.default_rng([2, plan.index]))
        pixels = np.asarray(image).reshape(-1, 3)
        matches = np.all(pixels == np.array(COLOURS[plan.drawn.colour]), axis=1).sum()
        assert matches >= 30, (plan.drawn, matches)
        assert image.size == (synthetic.IMAGE_SIZE, synthetic.IMAGE_SIZE)


def test_dark_weather_gives_emotion_one_and_darker_images() -> None:
    plans = synthetic._plan(100, seed=3, language="en", with_source=False)
    brightness = {0: [], 1: []}
    for plan in plans[:40]:
        assert plan.drawn.emotion == (1 if plan.drawn.weather in ("stormy", "smoky") else 0)
        image = synthetic.draw_image(plan.drawn, np.random.default_rng([3, plan.index]))
        brightness[plan.drawn.emotion].append(float(np.asarray(image.convert("L")).mean()))
    assert np.mean(brightness[1]) < np.mean(brightness[0]) - 30


def test_chinese_variant_has_cjk_captions(tmp_path: Path) -> None:
    splits = make_synthetic("synthetic-weibo-tiny", 160, 0, tmp_path, language="zh")
    assert splits.language == "zh"
    for _, item in splits.items():
        assert item.language == "zh"
        assert len(re.findall(r"[\u4e00-\u9fff]", item.text)) >= 8, item.text
        assert not re.search(r"[A-Za-z]{4,}", item.text), item.text
    with pytest.raises(ValueError, match="language"):
        make_synthetic("x", 160, 0, tmp_path, language="fr")


def test_with_source_gives_background_knowledge(tmp_path: Path) -> None:
    splits = make_synthetic("synthetic-tiny", 160, 0, tmp_path, with_source=True)
    assert splits.has_source
    for _, item in splits.items():
        assert item.source_text and item.source_image_path is not None and item.source_image_path.is_file()
        assert item.source_text.startswith("Earlier report")
        if item.label == FAKE:
            assert item.source_image_path == item.image_path


@pytest.mark.parametrize("name", sorted(SIZES))
def test_registered_sets_load_through_the_registry(tmp_path: Path, name: str) -> None:
    import benchmark.data.catalog  # noqa: F401  (registers the specs)
    spec = DATASETS.get(name)
    assert spec.kind == "synthetic" and spec.available(None) and spec.language == SIZES[name][1]
    if SIZES[name][0] > 500:
        return  # the large sets are generated by the demo, not in unit tests
    splits = spec.load(None, LoadOptions(seed=0, workdir=tmp_path))
    assert splits.name == name and splits.language in WORDS
    with Image.open(splits.test[0].image_path) as image:
        assert image.format == "PNG"
