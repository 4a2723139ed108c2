"""Which test items are not independent: one cluster key per item, shared by splits and statistics.

Tweets that share an image get the same prediction almost always, and articles of one outlet share
their label, so an interval or a test that treats items as independent overstates what a test set
can tell. Every dataset declares a cluster *unit*; every item gets a key under it:

* ``image`` (default): the content hash of the item's first image, so two files with the same bytes
  are one cluster; an item without an (existing) image is its own cluster.
* ``event``, ``publisher``: the item's field of that name (an item without one is its own cluster).
* ``item``: every item its own cluster (the independence assumption, stated explicitly).

Grouped splits (no group straddles train / validation / test) use the same keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import re

from .images import image_content_key
from .schema import DataError, NewsItem


def normalise_text(text: str | None) -> str:
    """Text compared for leaks and grouped splits: whitespace collapsed, lower-cased, stripped (one
    definition, so a grouped split's text groups are exactly the leak check's)."""
    return re.sub(r"\s+", " ", text or "").strip().lower()

CLUSTER_UNITS = ("image", "event", "publisher", "item")


class ContentKeys:
    """Image content hashes, each file read once (files that are missing or unreadable give None)."""

    def __init__(self) -> None:
        self._keys: dict[Path, str | None] = {}

    def get(self, path: Path) -> str | None:
        if path not in self._keys:
            try:
                self._keys[path] = image_content_key(path) if Path(path).is_file() else None
            except (DataError, OSError):
                self._keys[path] = None
        return self._keys[path]


def check_unit(unit: str) -> str:
    if unit not in CLUSTER_UNITS:
        raise ValueError(f"unknown cluster unit {unit!r}; expected one of {', '.join(CLUSTER_UNITS)}")
    return unit


def cluster_key(item: NewsItem, unit: str = "image", keys: ContentKeys | None = None) -> str:
    """The cluster of ``item`` under ``unit``; items without the unit's field are singletons."""
    check_unit(unit)
    if unit == "image":
        path = item.image_path
        digest = (keys or ContentKeys()).get(path) if path is not None else None
        return f"image:{digest}" if digest else f"item:{item.item_id}"
    if unit in ("event", "publisher"):
        value = getattr(item, unit)
        return f"{unit}:{value}" if value else f"item:{item.item_id}"
    return f"item:{item.item_id}"


def cluster_keys(items: Iterable[NewsItem], unit: str = "image",
                 keys: ContentKeys | None = None) -> list[str]:
    """Cluster keys of ``items`` in order, reading each image file once."""
    keys = keys or ContentKeys()
    return [cluster_key(item, unit, keys) for item in items]


def n_clusters(keys: Sequence[str]) -> int:
    return len(set(keys))
