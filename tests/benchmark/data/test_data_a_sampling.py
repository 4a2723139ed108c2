"""Splitting and subsampling: label strata kept, events never straddle splits, same seed same lists."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmark.data.sampling import event_split, limit_splits, stratified_sample, stratified_split
from benchmark.data.schema import DatasetSplits, NewsItem


def _items(n_fake: int, n_real: int, events: list[str] | None = None) -> list[NewsItem]:
    labels = [1] * n_fake + [0] * n_real
    return [NewsItem(f"i{k}", f"text {k}", (), label, event=(events[k % len(events)] if events else None))
            for k, label in enumerate(labels)]


def test_stratified_split_keeps_label_proportions_and_is_deterministic() -> None:
    items = _items(300, 100)
    kept, held = stratified_split(items, 0.2, seed=3)
    assert Counter(i.label for i in held) == {1: 60, 0: 20}
    assert len(kept) + len(held) == 400 and not {i.item_id for i in kept} & {i.item_id for i in held}
    assert [i.item_id for i in held] == [i.item_id for i in stratified_split(items, 0.2, seed=3)[1]]
    assert [i.item_id for i in held] != [i.item_id for i in stratified_split(items, 0.2, seed=4)[1]]
    # input order preserved inside each side
    assert [i.item_id for i in kept] == [i.item_id for i in items if i in kept]


def test_stratified_split_small_label_still_on_both_sides() -> None:
    kept, held = stratified_split(_items(50, 3), 0.1, seed=0)
    assert {i.label for i in held} == {0, 1} and {i.label for i in kept} == {0, 1}
    with pytest.raises(ValueError, match="fraction"):
        stratified_split(_items(5, 5), 1.5, seed=0)


def test_event_split_holds_out_whole_events_near_the_fraction() -> None:
    events = [f"e{k}" for k in range(20)]
    items = _items(500, 500, events)
    train, validation = event_split(items, 0.2, seed=1)
    train_events, val_events = {i.event for i in train}, {i.event for i in validation}
    assert not train_events & val_events
    assert len(train) + len(validation) == 1000
    assert 150 <= len(validation) <= 250
    assert {i.label for i in validation} == {0, 1}
    again = event_split(items, 0.2, seed=1)[1]
    assert [i.item_id for i in again] == [i.item_id for i in validation]
    assert {i.event for i in event_split(items, 0.2, seed=2)[1]} != val_events


def test_event_split_one_huge_event_does_not_swallow_validation() -> None:
    items = ([NewsItem(f"s{k}", "", (), k % 2, event="sandy") for k in range(650)]
             + [NewsItem(f"o{k}", "", (), k % 2, event=f"small{k % 10}") for k in range(350)])
    for seed in range(5):
        train, validation = event_split(items, 0.1, seed)
        assert "sandy" in {i.event for i in train}
        assert 50 <= len(validation) <= 150


def test_event_split_brings_in_a_missing_label() -> None:
    items = ([NewsItem(f"f{k}", "", (), 1, event=f"fake{k % 5}") for k in range(100)]
             + [NewsItem(f"r{k}", "", (), 0, event=f"real{k % 5}") for k in range(100)])
    for seed in range(6):
        train, validation = event_split(items, 0.1, seed)
        assert {i.label for i in validation} == {0, 1}
        assert {i.label for i in train} == {0, 1}


def test_event_split_items_without_event_fall_back_to_stratified() -> None:
    items = _items(40, 40, ["a", "b", "c", "d"]) + [NewsItem(f"n{k}", "", (), k % 2) for k in range(20)]
    train, validation = event_split(items, 0.25, seed=0)
    no_event_val = [i for i in validation if i.event is None]
    assert Counter(i.label for i in no_event_val) == {0: 2, 1: 2}  # round(10 * 0.25) per label
    assert not {i.event for i in train if i.event} & {i.event for i in validation if i.event}
    assert len(train) + len(validation) == 100


def test_stratified_sample_exact_size() -> None:
    sample = stratified_sample(_items(90, 10), 20, seed=0)
    assert len(sample) == 20 and Counter(i.label for i in sample) == {1: 18, 0: 2}
    tiny = stratified_sample(_items(99, 1), 5, seed=0)
    assert len(tiny) == 5 and {i.label for i in tiny} == {0, 1}


def test_limit_splits_caps_each_split_and_records_it() -> None:
    splits = DatasetSplits("x", train=_items(70, 30), validation=_items(5, 5), test=_items(40, 60),
                           notes=["original"])
    limited = limit_splits(splits, 20, seed=0)
    assert limited.counts()["train"] == {"total": 20, "fake": 14, "real": 6}
    assert limited.counts()["test"] == {"total": 20, "fake": 8, "real": 12}
    assert limited.validation == splits.validation
    assert len(splits.train) == 100  # original untouched
    assert limited.notes[0] == "original" and any("train limited from 100 to 20" in n for n in limited.notes)
    assert [i.item_id for i in limit_splits(splits, 20, seed=0).train] == [i.item_id for i in limited.train]
    with pytest.raises(ValueError):
        limit_splits(splits, 0, seed=0)
