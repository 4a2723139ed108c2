"""Seeded, label-stratified and event-disjoint splitting and subsampling of NewsItems.

The clean protocol carves validation from training without leaking: where posts belong to events
(MediaEval), whole events are held out, because a random split puts near-duplicate tweets about one
image on both sides. Everything here is deterministic for a seed and keeps the input order of the
items inside each output list, so the same call always yields the same lists.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from typing import Sequence

import numpy as np

from benchmark.data.schema import SPLITS, DatasetSplits, NewsItem

log = logging.getLogger(__name__)


def _check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")


def _by_label(items: Sequence[NewsItem]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for position, item in enumerate(items):
        groups[item.label].append(position)
    return dict(sorted(groups.items()))


def _held_count(n: int, fraction: float) -> int:
    """Items of one label to hold out: rounded, at least one when the label has two or more."""
    if fraction <= 0 or n == 0:
        return 0
    count = int(round(n * fraction))
    if n >= 2:
        count = min(max(count, 1), n - 1)
    return count


def stratified_split(items: Sequence[NewsItem], fraction: float, seed: int,
                     ) -> tuple[list[NewsItem], list[NewsItem]]:
    """Hold out about ``fraction`` of each label's items, chosen with a seeded RNG.

    Returns ``(kept, held_out)`` in input order. Every label with at least two items appears on both
    sides when ``fraction > 0``.
    """
    _check_fraction(fraction)
    rng = np.random.default_rng(seed)
    held: set[int] = set()
    for _, positions in _by_label(items).items():
        count = _held_count(len(positions), fraction)
        if count:
            chosen = rng.choice(len(positions), size=count, replace=False)
            held.update(positions[i] for i in chosen)
    kept = [item for i, item in enumerate(items) if i not in held]
    held_out = [item for i, item in enumerate(items) if i in held]
    return kept, held_out


def stratified_sample(items: Sequence[NewsItem], n: int, seed: int) -> list[NewsItem]:
    """Exactly ``min(n, len(items))`` items, label proportions kept (largest remainder), input order."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n >= len(items):
        return list(items)
    rng = np.random.default_rng(seed)
    groups = _by_label(items)
    total = len(items)
    quotas = {label: n * len(pos) / total for label, pos in groups.items()}
    counts = {label: int(q) for label, q in quotas.items()}
    # at least one of each label when the sample has room for it
    for label in counts:
        if counts[label] == 0 and n >= len(groups):
            counts[label] = 1
    shortfall = n - sum(counts.values())
    order = sorted(groups, key=lambda lab: (-(quotas[lab] - int(quotas[lab])), lab))
    while shortfall > 0:
        for label in order:
            if shortfall and counts[label] < len(groups[label]):
                counts[label] += 1
                shortfall -= 1
    while shortfall < 0:  # the minimum-one rule overshot: take from the largest label
        label = max(counts, key=lambda lab: counts[lab])
        counts[label] -= 1
        shortfall += 1
    chosen: set[int] = set()
    for label, positions in groups.items():
        picks = rng.choice(len(positions), size=counts[label], replace=False)
        chosen.update(positions[i] for i in picks)
    return [item for i, item in enumerate(items) if i in chosen]


def event_split(items: Sequence[NewsItem], fraction: float, seed: int,
                ) -> tuple[list[NewsItem], list[NewsItem]]:
    """Hold out whole events until about ``fraction`` of the items with an event are held out.

    Events are visited in a seeded random order; an event is taken while it keeps the held-out
    count at or below the target, then the remaining event that brings the count closest to the
    target is added while that improves it (so one huge event cannot swallow the validation split).
    If validation lacks a label that training has, the smallest event supplying it is moved over
    where training keeps that label. Items without an event are split with :func:`stratified_split`.
    Returns ``(train, validation)`` in input order; at least one event stays in training.
    """
    _check_fraction(fraction)
    with_event = [item for item in items if item.event is not None]
    without_event = [item for item in items if item.event is None]
    held_events: set[str] = set()
    if with_event and fraction > 0:
        sizes: dict[str, int] = defaultdict(int)
        labels: dict[str, set[int]] = defaultdict(set)
        for item in with_event:
            sizes[item.event] += 1  # type: ignore[index]
            labels[item.event].add(item.label)  # type: ignore[index]
        events = sorted(sizes)
        if len(events) >= 2:
            rng = np.random.default_rng(seed)
            order = [events[i] for i in rng.permutation(len(events))]
            target = fraction * len(with_event)
            held = 0
            for event in order:
                if held + sizes[event] <= target and len(held_events) < len(events) - 1:
                    held_events.add(event)
                    held += sizes[event]
            while len(held_events) < len(events) - 1:
                remaining = [e for e in order if e not in held_events]
                best = min(remaining, key=lambda e: abs(held + sizes[e] - target))
                if abs(held + sizes[best] - target) >= abs(held - target) and held_events:
                    break
                held_events.add(best)
                held += sizes[best]
            all_labels = set().union(*labels.values())
            held_labels = set().union(*(labels[e] for e in held_events)) if held_events else set()
            for label in sorted(all_labels - held_labels):
                candidates = sorted((e for e in order if e not in held_events and label in labels[e]),
                                    key=lambda e: sizes[e])
                for event in candidates:
                    train_events = set(events) - held_events - {event}
                    if train_events and label in set().union(*(labels[e] for e in train_events)):
                        held_events.add(event)
                        break
    train = [item for item in with_event if item.event not in held_events]
    validation = [item for item in with_event if item.event in held_events]
    if without_event:
        rest_train, rest_validation = stratified_split(without_event, fraction, seed)
        train_ids = {id(item) for item in train + rest_train}
        validation_ids = {id(item) for item in validation + rest_validation}
        train = [item for item in items if id(item) in train_ids]
        validation = [item for item in items if id(item) in validation_ids]
    return train, validation


def limit_splits(splits: DatasetSplits, n: int, seed: int) -> DatasetSplits:
    """Cap every split at ``n`` items (label-stratified, seeded); the cap is recorded in ``notes``."""
    if n < 1:
        raise ValueError(f"the per-split limit must be >= 1, got {n}")
    changed: dict[str, list[NewsItem]] = {}
    notes = list(splits.notes)
    for offset, split_name in enumerate(SPLITS):
        items = splits.split(split_name)
        if len(items) > n:
            changed[split_name] = stratified_sample(items, n, seed + offset)
            notes.append(f"{split_name} limited from {len(items)} to {n} items "
                         f"(stratified by label, seed {seed})")
    if not changed:
        notes.append(f"limit of {n} items per split requested; every split was already within it")
    return dataclasses.replace(splits, notes=notes, problems=list(splits.problems), **changed)
