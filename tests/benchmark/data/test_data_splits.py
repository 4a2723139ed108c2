"""Split policies: no group straddles train / validation / test (property-style over random data),
stratified as far as groups allow, ``random`` unchanged, and clear errors for unusable policies."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from benchmark.data.check import find_leaks, normalise_text
from benchmark.data.clusters import ContentKeys
from benchmark.data.sampling import stratified_split
from benchmark.data.schema import DataError, DatasetSplits, NewsItem
from benchmark.data.splits import SPLIT_POLICIES, check_policy, group_ids, grouped_holdout, make_splits

SPLIT_NAMES = ("train", "validation", "test")


def _pool_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        path = folder / f"img{k}.png"
        Image.new("RGB", (4, 4), (k * 7 % 256, k * 13 % 256, 50)).save(path)
        paths.append(path)
    # a byte-identical copy under another name: the same content must group together
    copy = folder / "copy-of-img0.png"
    copy.write_bytes(paths[0].read_bytes())
    return paths + [copy]


def _random_items(rng: random.Random, images: list[Path], n: int) -> list[NewsItem]:
    """Items of 8 outlets (and 5 events): images and texts mostly reused inside an outlet, now and
    then across outlets, with case/whitespace variants of the same text."""
    items = []
    for i in range(n):
        outlet = rng.randrange(8)
        if rng.random() < 0.015:  # a rare cross-outlet reuse links two outlets
            outlet_pool = rng.randrange(8)
        else:
            outlet_pool = outlet
        text = f"Story {rng.randrange(12)} of outlet {outlet_pool}"
        if rng.random() < 0.3:
            text = "  " + text.upper().replace(" ", "   ")
        pool = images[outlet_pool * 5:(outlet_pool + 1) * 5]
        image = (rng.choice(pool),) if rng.random() < 0.85 else ()
        items.append(NewsItem(item_id=f"i{i}", text=text, image_paths=image, label=int(rng.random() < 0.4),
                              publisher=f"outlet{outlet}" if rng.random() < 0.95 else None,
                              event=f"e{outlet % 5}" if rng.random() < 0.9 else None))
    return items


def _straddling(parts: dict[str, list[NewsItem]], policy: str, keys: ContentKeys) -> list[str]:
    """Keys (image content, normalised text, named field) found in more than one split."""
    where: dict[str, set[str]] = {}
    for name, items in parts.items():
        for item in items:
            found = [f"image:{keys.get(p)}" for p in item.image_paths if keys.get(p)]
            if normalise_text(item.text):
                found.append(f"text:{normalise_text(item.text)}")
            if policy in ("publisher", "event") and getattr(item, policy):
                found.append(f"{policy}:{getattr(item, policy)}")
            for key in found:
                where.setdefault(key, set()).add(name)
    return sorted(k for k, names in where.items() if len(names) > 1)


@pytest.mark.parametrize("policy", ["grouped", "publisher", "event"])
def test_no_group_straddles_two_splits_over_random_data(tmp_path, policy):
    images = _pool_images(tmp_path / "images", 40)
    keys = ContentKeys()
    made = 0
    for trial in range(25):
        rng = random.Random(trial)
        items = _random_items(rng, images, rng.randint(30, 160))
        try:
            result = make_splits(items, policy, 0.2, 0.1, seed=trial)
        except DataError:  # refused only when every item is linked into one group
            assert len(set(group_ids(items, policy, keys))) == 1
            continue
        made += 1
        parts = {"train": result.train, "validation": result.validation, "test": result.test}
        ids = [item.item_id for part in parts.values() for item in part]
        assert sorted(ids) == sorted(item.item_id for item in items), "a partition: every item exactly once"
        assert _straddling(parts, policy, keys) == [], (policy, trial)
        assert result.test and result.train
        splits = DatasetSplits(name="random", **parts, source="synthetic")
        assert find_leaks(splits) == []
        assert any(note.startswith("label balance: train") for note in result.notes)
    assert made >= 15, f"only {made} of 25 random sets could be split"


def test_grouped_is_exactly_stratified_when_every_item_is_its_own_group():
    items = [NewsItem(item_id=str(i), text=f"unique text {i}", image_paths=(), label=int(i % 10 < 3))
             for i in range(200)]
    grouped = make_splits(items, "grouped", 0.2, 0.1, seed=5)
    rnd = make_splits(items, "random", 0.2, 0.1, seed=5)
    for a, b in ((grouped.test, rnd.test), (grouped.validation, rnd.validation), (grouped.train, rnd.train)):
        assert Counter(i.label for i in a) == Counter(i.label for i in b)
    assert Counter(i.label for i in grouped.test) == {0: 28, 1: 12}


def test_publisher_groups_keep_label_balance_close():
    """Pure-label outlets (labels per publisher, as in ReCOVery): whole outlets held out, balance kept."""
    rng = random.Random(0)
    items = []
    for p in range(40):
        label = int(p % 3 == 0)
        for k in range(rng.randint(5, 40)):
            items.append(NewsItem(item_id=f"p{p}-{k}", text=f"outlet {p} article {k}", image_paths=(),
                                  label=label, publisher=f"p{p}"))
    result = make_splits(items, "publisher", 0.2, 0.1, seed=1)
    share = lambda part: sum(i.label for i in part) / len(part)  # noqa: E731
    assert abs(share(result.test) - share(items)) < 0.08
    assert abs(len(result.test) / len(items) - 0.2) < 0.06
    assert not ({i.publisher for i in result.test} & {i.publisher for i in result.train + result.validation})


def test_random_policy_is_the_previous_stratified_split():
    items = [NewsItem(item_id=str(i), text="same text", image_paths=(), label=i % 2) for i in range(50)]
    result = make_splits(items, "random", 0.2, 0.1, seed=3)
    train_all, test = stratified_split(items, 0.2, 3)
    train, validation = stratified_split(train_all, 0.1, 3)
    assert (result.train, result.validation, result.test) == (train, validation, test)


def test_union_find_joins_chains_of_shared_image_and_text(tmp_path):
    a, b = _pool_images(tmp_path, 2)[:2]
    items = [NewsItem("1", "alpha", (a,), 0), NewsItem("2", "beta", (a,), 0),  # share image a
             NewsItem("3", "BETA ", (b,), 1),  # shares text with 2
             NewsItem("4", "gamma", (), 1), NewsItem("5", "", (), 0), NewsItem("6", "", (), 1)]
    groups = group_ids(items, "grouped")
    assert groups[0] == groups[1] == groups[2]
    assert len({groups[3], groups[4], groups[5], groups[0]}) == 4  # empty texts do not group
    kept, held = grouped_holdout(items, groups, 0.5, seed=0)
    assert held and kept
    assert not ({"1", "2", "3"} & {i.item_id for i in held}) or {"1", "2", "3"} <= {i.item_id for i in held}


def test_unusable_policies_fail_with_the_fix(tmp_path):
    items = [NewsItem(str(i), f"t{i}", (), i % 2) for i in range(6)]
    image = _pool_images(tmp_path, 1)[0]
    one_group = [NewsItem(str(i), f"t{i}", (image,), i % 2) for i in range(6)]
    with pytest.raises(DataError, match="one group for all 6 items"):
        make_splits(one_group, "grouped", 0.2, 0.1, seed=0)
    with pytest.raises(DataError, match="--split grouped"):
        check_policy("publisher", items, "weibo")
    with pytest.raises(DataError, match="expected one of random, grouped, publisher, event"):
        check_policy("outlet")
    assert SPLIT_POLICIES == ("random", "grouped", "publisher", "event")


@pytest.mark.parametrize("policy", ["grouped", "publisher"])
def test_recovery_grouped_splits_do_not_leak(shared_data, policy):
    from benchmark.data.novemofake import load_recovery
    from benchmark.data.spec import LoadOptions

    root = shared_data / "recovery"
    if not root.is_dir():
        pytest.skip(f"real ReCOVery data not found at {root}")
    splits = load_recovery(root, LoadOptions(split=policy))
    assert splits.split_policy == policy and splits.cluster_unit == "publisher"
    assert find_leaks(splits) == []
    assert sum(len(splits.split(s)) for s in SPLIT_NAMES) == 1156
    if policy == "publisher":
        test = {i.publisher for i in splits.test}
        assert test and not test & {i.publisher for i in splits.train + splits.validation}
    random_split = load_recovery(root, LoadOptions(split="random"))
    assert len(find_leaks(random_split)) > 0  # the paper's split reuses photos across train and test
