"""Shared test setup: offline, quiet, and locating the read-only real data in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# `bench run` defaults to one worker process per core; tests run cells inline on one thread (the same
# numbers) unless a test asks for workers with --jobs.
os.environ.setdefault("BENCH_JOBS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BENCH_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "mediaeval2016").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set BENCH_SHARED_DATA to its folder)")
    return SHARED_DATA


def pytest_collection_modifyitems(config, items):
    """The fast part first: tests marked ``slow`` (they train real cells or start servers) run after
    every other test, so a broken unit shows up in minutes (a stable sort keeps the file order)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)
