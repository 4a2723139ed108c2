"""Data parameters of a sweep trial: settings that change what a cell trains on, not the model.

``train_test_ratio`` (NovEmoFake Table 3 varies it) is honoured *without re-splitting*: the paper
re-split train+test per ratio, which puts shared images, texts and events on both sides and gives
every trial another test set. Here validation and test stay as the dataset's split policy made them
(leak-checked like every ``bench run``) and the ratio sets how much of the training split a trial
uses: n_train = n_test * r / (1 - r), a seeded label-stratified subsample, capped at the whole
training split. The ratio actually reached is returned so reports show it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

DATA_PARAMS = ("train_test_ratio",)


def parse_ratio(value: Any) -> float:
    """0.8, '0.8' or '80:20' -> 0.8 (share of train+test that trains)."""
    if isinstance(value, str) and ":" in value:
        a, b = (float(x) for x in value.split(":", 1))
        ratio = a / (a + b)
    else:
        ratio = float(value)
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"train_test_ratio must be in (0, 1) or 'a:b', got {value!r}")
    return ratio


def train_size_for_ratio(n_train: int, n_test: int, ratio: float) -> int:
    """Training items that give train / (train + test) = ``ratio`` at the fixed test size (capped)."""
    return min(n_train, max(2, int(round(n_test * ratio / (1.0 - ratio)))))


def stratified_subsample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``size`` items keeping each label's share (seeded)."""
    if size >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        keep.extend(rng.choice(where, size=max(1, int(round(size * len(where) / len(labels)))), replace=False))
    return np.sort(np.asarray(keep[:size] if len(keep) > size else keep))


def apply_data_params(splits: Any, features: Any, params: dict[str, Any], seed: int):
    """``features`` with the trial's data parameters applied (the training split only)."""
    unknown = sorted(set(params) - set(DATA_PARAMS))
    if unknown:
        raise ValueError(f"unknown data parameter(s) {unknown}; known: {list(DATA_PARAMS)}")
    if "train_test_ratio" not in params:
        return features
    import torch
    ratio = parse_ratio(params["train_test_ratio"])
    size = train_size_for_ratio(len(features.train), len(features.test), ratio)
    idx = stratified_subsample(features.train.labels.numpy(), size, seed)
    return dataclasses.replace(features, train=features.train.subset(torch.as_tensor(idx)))


def reached_ratio(n_train: int, n_test: int) -> float:
    return n_train / (n_train + n_test)
