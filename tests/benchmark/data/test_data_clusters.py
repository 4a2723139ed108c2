"""Cluster keys: same image bytes -> one cluster; missing image or field -> singleton."""

from pathlib import Path

import pytest

from benchmark.data.clusters import cluster_key, cluster_keys, n_clusters
from benchmark.data.schema import NewsItem


def _item(i, image=None, **kw):
    return NewsItem(item_id=str(i), text="t", image_paths=(image,) if image else (), label=0, **kw)


def test_image_clusters_follow_content_not_names(tmp_path: Path):
    a, b, c = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    a.write_bytes(b"same"), b.write_bytes(b"same"), c.write_bytes(b"other")
    items = [_item(1, a), _item(2, b), _item(3, c), _item(4), _item(5, tmp_path / "missing.jpg")]
    keys = cluster_keys(items)
    assert keys[0] == keys[1] != keys[2]
    assert keys[3] == "item:4" and keys[4] == "item:5"
    assert n_clusters(keys) == 4


def test_event_publisher_and_item_units():
    assert cluster_key(_item(1, event="boston"), "event") == "event:boston"
    assert cluster_key(_item(2), "event") == "item:2"
    assert cluster_key(_item(3, publisher="cnn"), "publisher") == "publisher:cnn"
    assert cluster_key(_item(4, event="x"), "item") == "item:4"
    with pytest.raises(ValueError, match="unknown cluster unit"):
        cluster_key(_item(5), "outlet")
