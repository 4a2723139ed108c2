"""The dataset catalog registers every adapter's specs once, with the metadata reports need."""

from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path

import pytest

from benchmark.data import catalog
from benchmark.data.spec import DatasetSpec
from benchmark.registry import DATASETS, UnknownNameError

EXPECTED = {"mediaeval2016", "mediaeval2015", "synthetic-tiny", "synthetic-demo", "synthetic-weibo-tiny",
            "synthetic-weibo"}


def test_every_dataset_is_registered_with_metadata() -> None:
    assert EXPECTED <= set(DATASETS.names())
    for name in EXPECTED:
        spec = DATASETS.get(name)
        assert isinstance(spec, DatasetSpec) and spec.name == name
        assert spec.description and spec.licence and spec.published_at and callable(spec.loader)
        assert spec.has_events
    assert DATASETS.get("mediaeval2016").folder == "mediaeval2016"
    assert DATASETS.get("mediaeval2015").folder == "mediaeval2015"
    assert DATASETS.get("synthetic-weibo").language == "zh"
    with pytest.raises(UnknownNameError, match="synthetic-tiny"):
        DATASETS.get("synthetic-tiy")


def test_registration_is_idempotent_and_conflicts_are_named() -> None:
    before = DATASETS.names()
    importlib.reload(catalog)
    assert catalog.register_all() == sorted(set(catalog.register_all()))
    assert DATASETS.names() == before
    clash = dataclasses.replace(DATASETS.get("synthetic-tiny"), description="another")
    with pytest.raises(ValueError, match="benchmark.data.synthetic and some.other.module"):
        catalog.register_specs((clash,), "some.other.module")
    with pytest.raises(TypeError, match="not a DatasetSpec"):
        catalog.register_specs(("oops",), "bad.module")  # type: ignore[arg-type]


def test_real_specs_report_availability(tmp_path: Path) -> None:
    spec = DATASETS.get("mediaeval2016")
    assert not spec.available(tmp_path) and not spec.available(None)
    (tmp_path / "mediaeval2016").mkdir()
    assert spec.available(tmp_path)
    shared = Path(os.environ.get("BENCH_SHARED_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data")
    if (shared / "mediaeval2016").is_dir():
        assert spec.available(shared)
