"""Suite runner pieces: dataset-slot resolution and K-Means++ events for datasets without events."""

from __future__ import annotations

import torch

from benchmark.features import FeatureDims, FeatureSplits, FeatureTable
from benchmark.registry import load_plugins
from benchmark.loading import with_kmeans_events
from benchmark.suites.resolve import resolve_slots
from benchmark.suites import DatasetSlot

SLOTS = [DatasetSlot("twitter", "Twitter", ("mediaeval2015", "mediaeval2016"), "synthetic-demo"),
         DatasetSlot("weibo", "Weibo", ("weibo",), "synthetic-weibo")]


def test_no_real_data_anywhere_means_synthetic_for_every_slot(tmp_path):
    load_plugins()
    got = resolve_slots(SLOTS, tmp_path / "absent")
    assert [(r.dataset, r.source) for r in got] == [("synthetic-demo", "synthetic"), ("synthetic-weibo", "synthetic")]


def test_real_data_present_never_mixes_in_synthetic(tmp_path):
    load_plugins()
    (tmp_path / "mediaeval2016").mkdir()
    got = resolve_slots(SLOTS, tmp_path)
    assert (got[0].dataset, got[0].source) == ("mediaeval2016", "real")
    assert got[1].dataset is None and got[1].source == "not available"
    assert "weibo" in got[1].reason and got[1].status.startswith("not available")
    (tmp_path / "mediaeval2015").mkdir()  # the paper's own release is preferred when both exist
    assert resolve_slots(SLOTS, tmp_path)[0].dataset == "mediaeval2015"


def _table(n: int, offset: float) -> FeatureTable:
    g = torch.Generator().manual_seed(n)
    centres = torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]])
    which = torch.arange(n) % 3
    x = centres[which] + 0.1 * torch.randn(n, 2, generator=g) + offset
    return FeatureTable(item_ids=[str(i) for i in range(n)], labels=torch.zeros(n, dtype=torch.long),
                        events=torch.full((n,), -1), columns={"text_pooled": x[:, :1], "image_pooled": x[:, 1:]})


def test_kmeans_events_are_fitted_on_train_and_shared_by_all_splits():
    features = FeatureSplits(train=_table(30, 0.0), validation=_table(9, 0.05), test=_table(9, 0.05),
                             dims=FeatureDims(text_dim=1, image_dim=1, text_len=1, image_regions=1))
    out = with_kmeans_events(features, k=3, seed=0)
    assert out.dims.num_events == 3
    for split in ("train", "validation", "test"):
        events = out.split(split).events
        assert events.min() >= 0 and events.max() < 3
        # items drawn around the same centre share one cluster, different centres differ
        by_centre = [set(events[torch.arange(len(events)) % 3 == c].tolist()) for c in range(3)]
        assert all(len(s) == 1 for s in by_centre) and len(set.union(*by_centre)) == 3
    again = with_kmeans_events(features, k=3, seed=0)
    assert torch.equal(again.train.events, out.train.events)
    assert torch.equal(features.train.events, torch.full((30,), -1))  # input left untouched
