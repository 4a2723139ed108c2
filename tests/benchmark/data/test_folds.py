"""Grouped K-fold cross-validation: whole groups per fold, labels balanced as far as groups allow,
every labelled item tested exactly once, no image or text on both sides of a fold's boundary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmark.data.folds import assign_folds, default_fold_by, fold_splits, plan_folds
from benchmark.data.schema import DataError, DatasetSplits, NewsItem


def item(i: int, label: int, event: str, text: str | None = None) -> NewsItem:
    return NewsItem(item_id=f"i{i}", text=text or f"text {i}", image_paths=[], label=label, event=event)


def test_assign_folds_keeps_groups_whole_and_balances_labels_by_hand():
    # groups a = 2 fake + 2 real, b = 3 fake, c = 2 real, d = 1 real; 2 folds, target 2.5 per label
    labels = [1, 1, 0, 0, 1, 1, 1, 0, 0, 0]
    groups = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3]
    folds = assign_folds(labels, groups, 2, seed=0)
    # a -> 0 (no overshoot anywhere; tie -> smaller, lower fold); b -> 1 (overshoot 0.5 vs 2.5);
    # c -> 1 (0 vs 1.5); d -> 0 (0.5 both; fold 0 holds 4 items, fold 1 holds 5)
    assert folds == [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    per_fold = [Counter(lab for lab, f in zip(labels, folds) if f == k) for k in (0, 1)]
    assert per_fold == [Counter({1: 2, 0: 3}), Counter({1: 3, 0: 2})]


def test_too_few_groups_for_the_folds_is_a_clear_error():
    with pytest.raises(DataError, match="2 group\\(s\\) cannot fill 3 folds"):
        assign_folds([0, 1, 0, 1], [0, 0, 1, 1], 3)
    with pytest.raises(DataError, match="at least 2"):
        assign_folds([0, 1], [0, 1], 1)


def splits_of(items: list[NewsItem]) -> DatasetSplits:
    return DatasetSplits(name="toy", train=items[:12], validation=items[12:15], test=items[15:])


def test_every_item_is_tested_once_and_no_event_or_text_crosses_a_fold():
    items = [item(i, i % 2, f"e{i // 3}") for i in range(24)]
    items[20] = item(20, 0, "e6", text="text 1")  # shares its text with item 1 (event e0): one group
    splits = splits_of(items)
    assert default_fold_by(splits) == "event"
    plan = plan_folds(splits, 4, None)
    assert plan.fold_by == "event" and len(plan.items) == 24
    tested: list[str] = []
    for k in range(4):
        fold = fold_splits(splits, plan, k)
        assert fold.split_policy == "4-fold by event"
        tested += [i.item_id for i in fold.test]
        train_side = fold.train + fold.validation
        assert not {i.event for i in fold.test} & {i.event for i in train_side}
        assert not {i.text for i in fold.test} & {i.text for i in train_side}
        assert len(fold.train) + len(fold.validation) + len(fold.test) == 24
        assert fold.validation, "validation is carved from the training folds"
    assert sorted(tested) == sorted(i.item_id for i in items)  # out-of-fold: each item once
    shared = {plan.folds[1], plan.folds[20]}
    assert len(shared) == 1  # the shared text kept items 1 and 20 in one fold
    assert any("largest group" in line for line in plan.describe())


def test_fold_by_publisher_is_the_default_where_items_carry_outlets():
    items = [NewsItem(item_id=f"p{i}", text=f"t{i}", image_paths=[], label=i % 2, publisher=f"out{i % 5}")
             for i in range(20)]
    assert default_fold_by(splits_of(items)) == "publisher"
    plain = [NewsItem(item_id=f"q{i}", text=f"t{i}", image_paths=[], label=i % 2) for i in range(20)]
    assert default_fold_by(splits_of(plain)) == "grouped"
    with pytest.raises(DataError, match="unknown --fold-by"):
        plan_folds(splits_of(plain), 2, "outlet")


def test_a_group_larger_than_a_folds_share_is_named():
    items = [item(i, i % 2, "sandy" if i < 14 else f"e{i}") for i in range(24)]
    lines = plan_folds(splits_of(items), 4, "event").describe()
    assert "largest group (sandy): 14 of 24 items (58%)" in lines[-1] and "--fold-by grouped" in lines[-1]
