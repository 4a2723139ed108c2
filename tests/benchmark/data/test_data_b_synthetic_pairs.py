"""Synthetic NovEmoFake-style pairs: determinism, non-novel fakes, origin views, registration."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.data.check import check_dataset
from benchmark.data.relevance import relevance_scores
from benchmark.data.schema import FAKE, REAL
from benchmark.data.spec import LoadOptions
from benchmark.data.synthetic_pairs import make_synthetic_pairs, origin_view


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory):
    return make_synthetic_pairs("pairs", 90, 4, tmp_path_factory.mktemp("work"))


def test_deterministic_per_seed(pairs, tmp_path: Path) -> None:
    again = make_synthetic_pairs("pairs", 90, 4, tmp_path)
    other = make_synthetic_pairs("pairs", 90, 5, tmp_path)
    assert again.fingerprint() == pairs.fingerprint() != other.fingerprint()
    first = pairs.train[0]
    twin = next(i for _, i in again.items() if i.item_id == first.item_id)
    assert twin.image_path.read_bytes() == first.image_path.read_bytes()


def test_every_target_has_a_source_and_fakes_reuse_its_image(pairs) -> None:
    items = [i for _, i in pairs.items()]
    assert all(i.source_text and i.source_image_path and i.source_image_path.is_file() for i in items)
    assert all(i.emotion in (0, 1) and i.event and i.origin for i in items)
    fakes = [i for i in items if i.label == FAKE]
    reals = [i for i in items if i.label == REAL]
    assert fakes and reals
    assert all(i.image_path == i.source_image_path for i in fakes)  # non-novel image
    assert any(i.image_path != i.source_image_path for i in reals)  # some reals are fresh photos
    # a real target agrees with its source: it names the source's place (R_value of Eq. 1 >= 0.5);
    # out-of-context fakes name another place and share no entity with their source
    assert min(relevance_scores(i.text, [i.source_text])[0] for i in reals) >= 0.5
    assert any(relevance_scores(i.text, [i.source_text])[0] == 0.0 for i in fakes)

def test_splits_are_80_20_then_90_10_and_clean(pairs) -> None:
    counts = pairs.counts()
    assert counts["test"]["total"] == 18 and counts["train"]["total"] + counts["validation"]["total"] == 72
    assert all(counts[s]["fake"] and counts[s]["real"] for s in counts)
    report = check_dataset(pairs)
    assert report.errors == [] and report.leaks == []


def test_origin_views(pairs) -> None:
    views = [origin_view(pairs, o) for o in ("fauxtography", "recovery", "ticnn")]
    for view, origin in zip(views, ("fauxtography", "recovery", "ticnn")):
        assert {i.origin for _, i in view.items()} == {origin}
    for split in ("train", "validation", "test"):
        assert sorted(i.item_id for v in views for i in v.split(split)) == sorted(i.item_id for i in pairs.split(split))
    with pytest.raises(ValueError, match="no 'weibo' items"):
        origin_view(pairs, "weibo")


def test_custom_origins_and_size_guard(tmp_path: Path) -> None:
    only = make_synthetic_pairs("solo", 40, 0, tmp_path, origin_names=("recovery",))
    assert {i.origin for _, i in only.items()} == {"recovery"}
    with pytest.raises(ValueError, match="at least 40"):
        make_synthetic_pairs("small", 10, 0, tmp_path)


def test_registered_sets_load(tmp_path: Path) -> None:
    import benchmark.data.catalog  # noqa: F401
    from benchmark.registry import DATASETS

    names = {"synthetic-novemofake-tiny", "synthetic-novemofake", "synthetic-fauxtography",
             "synthetic-recovery", "synthetic-ticnn"}
    assert names <= set(DATASETS.names())
    spec = DATASETS.get("synthetic-novemofake-tiny")
    assert spec.has_source and spec.kind == "synthetic" and spec.available(None)
    tiny = spec.load(None, LoadOptions(workdir=tmp_path))
    assert sum(c["total"] for c in tiny.counts().values()) == 200 and tiny.has_source
