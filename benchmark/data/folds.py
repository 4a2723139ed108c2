"""Grouped K-fold cross-validation over every labelled item of a dataset (an evaluation design).

Why: a published test split can be tiny in independent material (MediaEval 2016's holds 44 images),
so no amount of training makes a comparison conclusive. Cross-validation predicts every labelled item
once per seed, from a model that never saw its group: the report then pools K folds' out-of-fold
predictions into one prediction per item per seed and counts every cluster.

How: the pool is train + validation + test of the dataset's split. Groups are a declared key
(``event``, ``publisher``) unioned with shared image content and normalised text (``grouped``, also
called ``image``), via ``benchmark.data.splits.group_ids``, so no image or text is ever on both
sides. Whole groups go to folds, largest first, each to the fold where it overshoots the per-label
target least (balanced by label as far as groups allow; seeded order among equal sizes). Fold k's
cell tests on fold k and trains on the others, with validation carved from them by the same groups.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Sequence

import numpy as np

from benchmark.data.clusters import ContentKeys
from benchmark.data.schema import DataError, DatasetSplits, NewsItem
from benchmark.data.splits import balance_line, group_ids, grouped_holdout

FOLD_BY = ("event", "publisher", "grouped", "image")
VALIDATION_FRACTION = 0.1  # of the training folds, by group (the NovEmoFake paper's 90:10)


def default_fold_by(splits: DatasetSplits) -> str:
    """event where items carry events (MediaEval, Weibo), publisher where they carry outlets
    (ReCOVery), else the grouped content keys."""
    items = [item for _, item in splits.items()]
    for field in ("event", "publisher"):
        if sum(bool(getattr(item, field, None)) for item in items) > 0.5 * max(len(items), 1):
            return field
    return "grouped"


def fold_groups(items: Sequence[NewsItem], fold_by: str, keys: ContentKeys | None = None) -> list[int]:
    if fold_by not in FOLD_BY:
        raise DataError(f"unknown --fold-by {fold_by!r}; choose one of {', '.join(FOLD_BY)}")
    return group_ids(items, "grouped" if fold_by == "image" else fold_by, keys)


def assign_folds(labels: Sequence[int], groups: Sequence[int], k: int, seed: int = 0) -> list[int]:
    """A fold number (0..k-1) per item: whole groups, largest first, each to the fold that keeps the
    per-label counts closest to ``n_label / k`` (ties: the smaller fold, then the lower number)."""
    if k < 2:
        raise DataError(f"--folds must be at least 2, got {k}")
    members: dict[int, list[int]] = {}
    for position, group in enumerate(groups):
        members.setdefault(group, []).append(position)
    if len(members) < k:
        raise DataError(f"{len(members)} group(s) cannot fill {k} folds; use fewer --folds or a finer --fold-by")
    totals = Counter(labels)
    target = {label: n / k for label, n in totals.items()}
    rng = np.random.default_rng(seed)
    order = sorted(members, key=lambda g: (-len(members[g]), rng.random()))
    fold_counts = [Counter() for _ in range(k)]
    fold_of_group: dict[int, int] = {}
    for g in order:
        add = Counter(labels[p] for p in members[g])

        def overshoot(f: int) -> float:
            return sum(max(0.0, fold_counts[f][lab] + add[lab] - target[lab]) for lab in add)

        best = min(range(k), key=lambda f: (overshoot(f), sum(fold_counts[f].values()), f))
        fold_of_group[g] = best
        fold_counts[best] += add
    return [fold_of_group[g] for g in groups]


@dataclasses.dataclass(frozen=True)
class FoldPlan:
    """The pooled items, their groups and fold numbers: one per dataset, shared by its K fold cells."""

    items: tuple[NewsItem, ...]
    groups: tuple[int, ...]
    folds: tuple[int, ...]
    k: int
    fold_by: str

    def describe(self) -> list[str]:
        """Each fold's size and label balance, and the largest group's share (the user's choice)."""
        lines = []
        for f in range(self.k):
            members = [item for item, fold in zip(self.items, self.folds) if fold == f]
            lines.append(balance_line(f"fold {f}:", members) + f", {len({g for g, fo in zip(self.groups, self.folds) if fo == f})} groups")
        sizes = Counter(self.groups)
        group, size = sizes.most_common(1)[0]
        share = size / len(self.items)
        named = next(getattr(i, self.fold_by, None) for i, g in zip(self.items, self.groups) if g == group) \
            if self.fold_by in ("event", "publisher") else None
        lines.append(f"largest group{f' ({named})' if named else ''}: {size} of {len(self.items)} items "
                     f"({100 * share:.0f}%)" + (f"; it alone is more than a fold's share (1/{self.k}), so its fold is "
                                                  f"larger and trains on less: use --fold-by grouped for balanced folds"
                                                  if share > 1 / self.k else ""))
        return lines


def plan_folds(splits: DatasetSplits, k: int, fold_by: str | None, seed: int = 0) -> FoldPlan:
    """Pool every labelled item of ``splits`` and assign whole groups to ``k`` folds."""
    fold_by = fold_by or default_fold_by(splits)
    items = tuple(item for _, item in splits.items())
    groups = fold_groups(items, fold_by, ContentKeys())
    folds = assign_folds([item.label for item in items], groups, k, seed)
    return FoldPlan(items, tuple(groups), tuple(folds), k, fold_by)


def fold_splits(splits: DatasetSplits, plan: FoldPlan, fold: int, seed: int = 0) -> DatasetSplits:
    """Fold ``fold`` as train / validation / test: test = the fold, validation carved by group from
    the other folds. The split policy names the design (``5-fold by event``) for tables and identity."""
    if not 0 <= fold < plan.k:
        raise DataError(f"fold {fold} of {plan.k} does not exist")
    test = [item for item, f in zip(plan.items, plan.folds) if f == fold]
    rest = [(item, g) for item, g, f in zip(plan.items, plan.groups, plan.folds) if f != fold]
    train, validation = grouped_holdout([i for i, _ in rest], [g for _, g in rest], VALIDATION_FRACTION, seed)
    policy = f"{plan.k}-fold by {plan.fold_by}"
    notes = [f"split={policy}: fold {fold} is the test split; validation {round(VALIDATION_FRACTION * 100)}% of "
             "the other folds by the same groups; no group on two sides",
             "label balance: " + "; ".join(balance_line(n, s) for n, s in
                                           (("train", train), ("validation", validation), ("test", test)))]
    return dataclasses.replace(splits, train=train, validation=validation, test=test, split_policy=policy,
                               notes=[*splits.notes, *notes])
