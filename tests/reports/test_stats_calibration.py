"""Calibration of the paired tests on simulated clustered test sets (fixed RNG seed, a few seconds).

Each simulated test set has 20 image clusters of very unequal size (a few large ones, as MediaEval
2016's 44 images over 698 tweets), 300 items, and two models with the *same* true accuracy: for every
model, seed and cluster a latent "right on this image" draw (probability 0.7, shared by the model's
seeds with probability 0.8), and each item follows its cluster's draw with probability 0.98. The null
hypothesis (no difference between the models) is true in every table, so a valid level-0.05 test must
reject in about 5% of them. The item-level McNemar test, which counts tweets of one image as
independent evidence, rejects far more often; the cluster sign-flip test stays at its nominal level.
"""

from __future__ import annotations

import numpy as np

from reports.stats import cluster_paired_test, mcnemar_test

N_TABLES = 300
N_SEEDS = 3
ALPHA = 0.05


def _cluster_sizes(rng: np.random.Generator, n_items: int = 300, n_clusters: int = 20) -> np.ndarray:
    weights = rng.pareto(1.2, n_clusters) + 0.2  # heavy-tailed: a few images carry most tweets
    sizes = np.maximum(1, np.round(weights / weights.sum() * n_items)).astype(int)
    return sizes


def _model(rng: np.random.Generator, y: np.ndarray, cluster_of: np.ndarray, n_clusters: int) -> np.ndarray:
    shared = rng.random(n_clusters) < 0.7
    seeds = []
    for _ in range(N_SEEDS):
        own = rng.random(n_clusters) < 0.7
        right_cluster = np.where(rng.random(n_clusters) < 0.8, shared, own)
        right = np.where(rng.random(y.size) < 0.98, right_cluster[cluster_of], ~right_cluster[cluster_of])
        seeds.append(np.where(right, y, 1 - y))
    return np.vstack(seeds)


def _simulate(rng: np.random.Generator):
    sizes = _cluster_sizes(rng)
    cluster_of = np.repeat(np.arange(sizes.size), sizes)
    y = np.repeat(rng.integers(0, 2, sizes.size), sizes)  # an image's tweets share their label
    keys = np.array([f"image:{g:02d}" for g in cluster_of])
    return y, _model(rng, y, cluster_of, sizes.size), _model(rng, y, cluster_of, sizes.size), keys


def test_clustered_test_holds_its_level_where_item_level_mcnemar_does_not():
    rng = np.random.default_rng(20161)
    clustered, item_level = [], []
    for t in range(N_TABLES):
        y, a, b, keys = _simulate(rng)
        clustered.append(cluster_paired_test(y, a, b, keys, n_perm=999, seed=t).p_value < ALPHA)
        item_level.append(mcnemar_test(y, a, b).p_value < ALPHA)
    rate_clustered, rate_item = float(np.mean(clustered)), float(np.mean(item_level))
    print(f"rejection at alpha {ALPHA} over {N_TABLES} null tables: clustered sign-flip {rate_clustered:.3f}, "
          f"item-level McNemar {rate_item:.3f}")
    assert rate_clustered <= 0.07
    assert rate_item >= 0.30
    assert rate_item > 4 * max(rate_clustered, 0.01)


def test_clustered_test_has_power_when_one_model_is_better():
    """Not a vacuous test: with a real difference (each image right with probability 0.95 vs 0.45) it
    rejects most of the time."""
    rng = np.random.default_rng(7)
    hits = 0
    for t in range(60):
        sizes = _cluster_sizes(rng)
        cluster_of = np.repeat(np.arange(sizes.size), sizes)
        y = np.repeat(rng.integers(0, 2, sizes.size), sizes)
        good = np.where(np.repeat(rng.random(sizes.size) < 0.95, sizes), y, 1 - y)
        bad = np.where(np.repeat(rng.random(sizes.size) < 0.45, sizes), y, 1 - y)
        hits += cluster_paired_test(y, good, bad, cluster_of, n_perm=999, seed=t).p_value < ALPHA
    assert hits / 60 >= 0.6
