"""Cluster-weighted metrics ("accuracy@cluster" ...): every cluster counts once, in both implementations
(benchmark.metrics via sklearn sample weights; reports.stats via weighted confusion counts) and in the
intervals (the clusters' means are the units, with equal weights)."""

import numpy as np
import pytest

from benchmark.metrics import (CLUSTER_METRIC_NAMES, classification_metrics, cluster_weighted_metrics, metric_label,
                               split_metric)
from reports.stats import (COUNT_METRICS, METRICS, bell_mccaffrey_df, compare_rows, metric_from_predictions,
                           pseudo_values, row_intervals)

# cluster a holds three fake tweets (one right), cluster b one real tweet (right)
Y = np.array([1, 1, 1, 0])
P = np.array([1, 0, 0, 0])
C = np.array(["a", "a", "a", "b"])


def test_hand_computed_values():
    # weights 1/3, 1/3, 1/3, 1: accuracy (1/3 + 1) / 2; fake recall 1/3, real recall 1;
    # F1 fake: TP 1/3, FN 2/3 -> (2/3) / (2/3 + 2/3); F1 real: TN 1, FN 2/3 -> 2 / (2 + 2/3)
    want = {"accuracy@cluster": 2 / 3, "balanced_accuracy@cluster": 2 / 3, "fake_f1@cluster": 0.5,
            "real_f1@cluster": 0.75}
    assert cluster_weighted_metrics(Y, P, C) == pytest.approx(want, abs=1e-12)
    for name, value in want.items():
        assert metric_from_predictions(Y, P, name, clusters=C) == pytest.approx(value, abs=1e-12)
    assert classification_metrics(Y, P)["accuracy"] == 0.5  # the item-weighted number differs


def test_singleton_clusters_give_the_item_weighted_metrics():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    item = classification_metrics(y, p)
    per_cluster = cluster_weighted_metrics(y, p, np.arange(50))
    for name in CLUSTER_METRIC_NAMES:
        assert per_cluster[name] == pytest.approx(item[split_metric(name)[0]], abs=1e-12)


def test_stats_counts_agree_with_sklearn_weights_and_pseudo_values_average_to_the_metric():
    rng = np.random.default_rng(2)
    clusters = rng.integers(0, 12, 80)
    y = rng.integers(0, 2, 80)
    p = np.where(rng.random((3, 80)) < 0.7, y, 1 - y)
    w = 1.0 / np.bincount(clusters)[clusters]
    for name in CLUSTER_METRIC_NAMES:
        ref = [cluster_weighted_metrics(y, s, clusters)[name] for s in p]
        assert [metric_from_predictions(y, s, name, clusters=clusters) for s in p] == pytest.approx(ref, abs=1e-12)
        psi = pseudo_values(y, p, name, clusters=clusters)
        assert psi @ w / w.sum() == pytest.approx(ref, abs=1e-9), name


def test_row_interval_uses_the_cluster_means_as_equal_units():
    y = np.array([1, 1, 1, 0, 0, 1, 1, 0, 1, 0])
    p = np.array([1, 0, 0, 0, 1, 1, 1, 0, 0, 0])
    c = np.array(list("aaabbccdde"))
    u = np.array([1 / 3, 0.5, 1.0, 0.5, 1.0])  # each cluster's share of correct items
    _, iv = row_intervals(y, p, "accuracy@cluster", c)
    assert iv.estimate == pytest.approx(u.mean())
    assert iv.se == pytest.approx(u.std(ddof=1) / np.sqrt(5))  # CR2 with equal weights: s / sqrt(G)
    assert iv.df == pytest.approx(4.0) == pytest.approx(bell_mccaffrey_df(np.ones(5)))
    _, item = row_intervals(y, p, "accuracy", c)
    assert item.estimate == pytest.approx(0.6) and item.estimate != pytest.approx(iv.estimate)


def test_paired_comparison_of_cluster_weighted_accuracy():
    y = np.array([1, 1, 1, 0, 0, 1, 1, 0, 1, 0])
    c = np.array(list("aaabbccdde"))
    a = np.array([[1, 1, 1, 0, 0, 1, 1, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0, 1, 1]])
    b = np.array([[1, 0, 0, 0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]])
    comp = compare_rows(y, a, b, "accuracy@cluster", c)
    mean_a = np.mean([metric_from_predictions(y, s, "accuracy@cluster", clusters=c) for s in a])
    mean_b = np.mean([metric_from_predictions(y, s, "accuracy@cluster", clusters=c) for s in b])
    assert comp.difference == pytest.approx(mean_a - mean_b)
    assert comp.crossed.estimate == pytest.approx(mean_a - mean_b)
    assert comp.n_clusters == 5 and comp.seeds is not None


def test_metric_lists_are_derived_from_benchmark_metrics():
    from benchmark.metrics import METRIC_NAMES
    assert set(COUNT_METRICS) == set(METRIC_NAMES) - {"roc_auc"}
    assert set(CLUSTER_METRIC_NAMES) <= set(METRICS)
    assert "each cluster weighted equally" in metric_label("accuracy@cluster")
    with pytest.raises(ValueError, match="cluster-weighted form"):
        split_metric("roc_auc@cluster")
