"""Split policies for datasets without a published split: ``random``, ``grouped``, ``publisher``, ``event``;
and the two choices that name a dataset's own split: ``paper`` (the default) and ``published``.

Why: a seeded random split (the papers') puts reused photos and copied texts on both sides of the
train/test boundary (ReCOVery: 14 stock photos with seed 0), which inflates test scores; and where
labels are per outlet, a model can learn the outlet instead of the article. So the split is a
declared choice, recorded per cell:

* ``random``: the papers' protocol, stratified by label, seeded (may leak; ``bench run`` refuses it
  when it does, unless ``--allow-leaks``).
* ``grouped``: items sharing image content (sha1 of the file, :class:`benchmark.data.clusters.ContentKeys`)
  or a normalised text are one group (union-find over both keys); no group straddles train,
  validation and test.
* ``publisher`` / ``event``: the named field is the group (an item without it is alone), *and* the
  content keys of ``grouped`` are unioned in, so the split is both outlet/event-disjoint and leak-free.

Grouped splits are stratified as far as groups allow (a greedy pick of whole groups towards each
label's target count); the resulting label balance of every split is written to the notes.

``--split`` also takes (:data:`SPLIT_CHOICES`):

* ``paper`` (default): the split each paper used. Twitter: MediaEval 2015's event split, rebuilt from
  the 2016 release when no 2015 folder exists (``benchmark.data.mediaeval_paper``); a dataset with a
  published split: that split; a dataset without one: the papers' seeded ``random`` split.
* ``published``: a release's own published split (Twitter: the 2016 split). A dataset without one
  refuses it.

So ``paper`` and ``published`` only choose *which* split; where items are then divided (a whole
dataset without a published split, or validation carved from a published training split) they mean
``random``, and :func:`grouping_policy` says so in one place.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark.data.clusters import ContentKeys, normalise_text  # the leak check's normalisation: same groups
from benchmark.data.sampling import stratified_split
from benchmark.data.schema import FAKE, DataError, NewsItem
from benchmark.data.spec import DEFAULT_SPLIT

log = logging.getLogger(__name__)

__all__ = ["SPLIT_POLICIES", "SPLIT_CHOICES", "DEFAULT_SPLIT", "grouping_policy", "check_policy", "group_ids", "grouped_holdout", "carve", "make_splits",
           "balance_line", "SplitResult"]

SPLIT_POLICIES = ("random", "grouped", "publisher", "event")
SPLIT_CHOICES = (DEFAULT_SPLIT, "published", *SPLIT_POLICIES)  # what --split accepts; DEFAULT_SPLIT = "paper"
_FIELD_POLICIES = ("publisher", "event")


def grouping_policy(choice: str, dataset: str, published: bool) -> str:
    """The :data:`SPLIT_POLICIES` entry that divides items under the ``--split`` ``choice``.

    ``published`` says whether the dataset has a published train/test split (then the policy carves
    validation from its training split). ``paper`` means ``random`` (the papers' seeded stratified
    split); ``published`` means ``random`` too where a published split exists, and is refused where none does.
    """
    if choice not in SPLIT_CHOICES:
        raise DataError(f"unknown split {choice!r}; expected one of {', '.join(SPLIT_CHOICES)} (--split)")
    if choice == "published" and not published:
        raise DataError(f"{dataset} has no published split, so --split published does not apply; use --split "
                        f"paper (the papers' seeded random split) or one of {', '.join(SPLIT_POLICIES)}")
    return "random" if choice in ("paper", "published") else choice


def check_policy(policy: str, items: Sequence[NewsItem] = (), dataset: str = "dataset") -> str:
    """``policy`` if known and usable on ``items``; else a DataError naming the fix."""
    if policy not in SPLIT_POLICIES:
        raise DataError(f"unknown split {policy!r}; expected one of {', '.join(SPLIT_POLICIES)} "
                        "(--split)")
    if policy in _FIELD_POLICIES and items and not any(getattr(i, policy) for i in items):
        raise DataError(f"{dataset}: --split {policy} needs items with a {policy}, but none has one; "
                        f"use --split grouped (leak-free) or --split random")
    return policy


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_ids(items: Sequence[NewsItem], policy: str, keys: ContentKeys | None = None) -> list[int]:
    """One group number per item (numbered by first appearance); ``random`` gives every item its own.

    ``grouped`` unions items sharing any image's content or their normalised (non-empty) text;
    ``publisher`` / ``event`` also union items sharing that field.
    """
    check_policy(policy)
    n = len(items)
    if policy == "random":
        return list(range(n))
    keys = keys or ContentKeys()
    uf = _UnionFind(n)
    first: dict[str, int] = {}

    def link(key: str, index: int) -> None:
        if key in first:
            uf.union(first[key], index)
        else:
            first[key] = index

    for index, item in enumerate(items):
        for path in item.image_paths:
            digest = keys.get(Path(path))
            if digest:
                link(f"image:{digest}", index)
        text = normalise_text(item.text)
        if text:
            link(f"text:{text}", index)
        if policy in _FIELD_POLICIES and getattr(item, policy):
            link(f"{policy}:{getattr(item, policy)}", index)
    numbers: dict[int, int] = {}
    return [numbers.setdefault(uf.find(i), len(numbers)) for i in range(n)]


def grouped_holdout(items: Sequence[NewsItem], groups: Sequence[int], fraction: float, seed: int,
                    ) -> tuple[list[NewsItem], list[NewsItem]]:
    """Hold out whole groups, about ``fraction`` of each label (greedy, seeded); ``(kept, held)``.

    Groups are visited in a seeded random order and a group is held out when that brings the
    held-out label counts closer to their targets (``round(fraction * n_label)``, at least one per
    label with two or more items). At least one group stays on each side when there are two groups.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    if len(groups) != len(items):
        raise ValueError(f"{len(groups)} group ids for {len(items)} items")
    members: dict[int, list[int]] = {}
    for position, group in enumerate(groups):
        members.setdefault(group, []).append(position)
    order = sorted(members)
    if fraction == 0 or len(order) < 2:
        return list(items), []
    totals = Counter(item.label for item in items)
    target = {label: (max(1, round(n * fraction)) if n >= 2 else round(n * fraction))
              for label, n in totals.items()}
    counts = {g: Counter(items[p].label for p in members[g]) for g in order}
    rng = np.random.default_rng(seed)
    held_groups: list[int] = []
    held = Counter()

    def error(state: Counter) -> int:
        return sum(abs(state[label] - target[label]) for label in target)

    for g in (order[i] for i in rng.permutation(len(order))):
        if len(held_groups) == len(order) - 1:
            break
        after = held + counts[g]
        if error(after) < error(held):
            held_groups.append(g)
            held = after
    if not held_groups:  # every group overshoots: hold out the smallest one
        held_groups.append(min(order, key=lambda g: (len(members[g]), g)))
    chosen = set(held_groups)
    kept = [item for item, g in zip(items, groups) if g not in chosen]
    held_out = [item for item, g in zip(items, groups) if g in chosen]
    return kept, held_out


def carve(items: Sequence[NewsItem], policy: str, fraction: float, seed: int,
          keys: ContentKeys | None = None) -> tuple[list[NewsItem], list[NewsItem]]:
    """Split ``items`` into ``(kept, held_out)`` under ``policy`` (``random`` = label-stratified)."""
    if policy == "random":
        return stratified_split(items, fraction, seed)
    return grouped_holdout(items, group_ids(items, policy, keys), fraction, seed)


def balance_line(name: str, items: Sequence[NewsItem]) -> str:
    fake = sum(item.label == FAKE for item in items)
    share = f"{100 * fake / len(items):.1f}% fake" if items else "empty"
    return f"{name} {len(items)} ({fake} fake / {len(items) - fake} real, {share})"


@dataclass(frozen=True)
class SplitResult:
    """The three splits and the notes saying how they were made (policy, groups, label balance)."""

    train: list[NewsItem]
    validation: list[NewsItem]
    test: list[NewsItem]
    notes: list[str]


def make_splits(items: Sequence[NewsItem], policy: str, test_fraction: float, validation_fraction: float,
                seed: int, dataset: str = "dataset") -> SplitResult:
    """Test held out of all items, then validation out of the rest, both under ``policy``."""
    check_policy(policy, items, dataset)
    keys = ContentKeys()
    if policy != "random" and len(items) >= 2 and len(set(group_ids(items, policy, keys))) < 2:
        raise DataError(f"{dataset}: --split {policy} finds one group for all {len(items)} items (shared "
                        "images, texts or field values link them all), so no test split can be held out; "
                        "use --split grouped (if a named key linked them) or --split random --allow-leaks")
    train_all, test = carve(items, policy, test_fraction, seed, keys)
    train, validation = carve(train_all, policy, validation_fraction, seed, keys)
    tr, va = round((1 - validation_fraction) * 100), round(validation_fraction * 100)
    te = round(test_fraction * 100)
    if policy == "random":
        how = "stratified by label"
    else:
        groups = group_ids(items, policy, keys)
        n_groups = len(set(groups))
        what = {"grouped": "shared image content or normalised text",
                "publisher": "publisher, shared image content or normalised text",
                "event": "event, shared image content or normalised text"}[policy]
        how = (f"grouped by {what} ({n_groups} groups for {len(items)} items; union-find), "
               "no group straddles two splits, stratified by label as far as groups allow")
    notes = [f"split={policy}: {100 - te}:{te} train/test then train {tr}:{va} train/validation, {how}, "
             f"seed {seed}",
             "label balance: " + "; ".join(balance_line(n, s) for n, s in
                                           (("train", train), ("validation", validation), ("test", test)))]
    log.info("%s: %s", dataset, notes[-1])
    return SplitResult(train, validation, test, notes)
