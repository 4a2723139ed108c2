"""The power planner: its expected variance against a hand computation and against the tables' own
intervals on simulated tables (the same crossed variance), and the cheapest-design search."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from reports.plan import (Design, Observed, cheapest, cluster_variance, expected_precision, fit_icc,
                          kish_effective_clusters, observe, options)
from reports.stats import min_detectable_difference, row_intervals
from reports.tables import PredictionMatrix


def test_hand_computed_small_case():
    sizes = [2, 2, 4]  # w = .25, .25, .5: Σw² = .375, Σw²/n = .125
    assert kish_effective_clusters(sizes) == pytest.approx(1 / 0.375)
    assert kish_effective_clusters(sizes, "cluster") == pytest.approx(3.0)
    # p(1-p) = .16; ρ = .5: .16 (.5 · .375 + .5 · .125) = .04
    assert cluster_variance(sizes, 0.8, 0.5) == pytest.approx(0.04)
    # cluster-weighted: w = 1/3: Σw² = 1/3, Σw²/n = (1/2 + 1/2 + 1/4) / 9
    assert cluster_variance(sizes, 0.8, 0.5, "cluster") == pytest.approx(0.16 * (0.5 / 3 + 0.5 * 1.25 / 9))
    e = expected_precision(sizes, seeds=4, p=0.8, icc=0.5, seed_std=0.1, diff_ratio=2.0, n_comparisons=3)
    assert e.se_row == pytest.approx(math.sqrt(0.04 + 0.01 / 4)) and e.df_row == 3
    assert e.half_width == pytest.approx(stats.t.ppf(0.975, 3) * math.sqrt(0.0425))
    assert e.se_diff == pytest.approx(math.sqrt(0.08 + 0.02 / 4)) and e.df_diff == 6
    assert e.mdd == pytest.approx(min_detectable_difference(math.sqrt(0.085), df=6, n_comparisons=3))


def test_fit_icc_inverts_the_cluster_variance():
    sizes = np.array([1, 3, 7, 20, 2, 2, 50])
    for icc in (0.0, 0.3, 0.8):
        assert fit_icc(cluster_variance(sizes, 0.7, icc), sizes, 0.7) == pytest.approx(icc, abs=1e-12)


def simulate(sizes, p, icc, seed_std, n_seeds, rng):
    """Items right with probability q_g + e_s (q_g ~ Beta with mean p and ICC ρ, e_s the seed-wide
    effect); each item's uniform draw is kept across seeds, as tweets of one image keep their prediction."""
    a = p * (1 - icc) / icc
    b = (1 - p) * (1 - icc) / icc
    q = np.repeat(rng.beta(a, b, len(sizes)), sizes)
    u = rng.random(q.size)
    e = rng.normal(0, seed_std, n_seeds)
    correct = (u[None, :] < np.clip(q[None, :] + e[:, None], 0, 1)).astype(int)
    y = rng.integers(0, 2, q.size)
    return y, np.where(correct == 1, y, 1 - y)


def test_planner_half_width_matches_simulated_tables_within_30_percent():
    rng = np.random.default_rng(7)
    sizes = np.minimum(rng.geometric(0.08, 80), 60)
    clusters = np.repeat(np.arange(sizes.size), sizes)
    p, icc, seed_std, n_seeds = 0.8, 0.5, 0.03, 5
    want = expected_precision(sizes, n_seeds, p, icc, seed_std)
    want_c = expected_precision(sizes, n_seeds, p, icc, seed_std, "cluster")
    got, got_c = [], []
    for _ in range(150):
        y, pred = simulate(sizes, p, icc, seed_std, n_seeds, rng)
        got.append(row_intervals(y, pred, "accuracy", clusters)[1].half_width)
        got_c.append(row_intervals(y, pred, "accuracy@cluster", clusters)[1].half_width)
    assert np.median(got) == pytest.approx(want.half_width, rel=0.3)
    assert np.median(got_c) == pytest.approx(want_c.half_width, rel=0.3)


def test_observe_recovers_the_simulated_parameters_roughly():
    rng = np.random.default_rng(3)
    sizes = np.minimum(rng.geometric(0.1, 150), 40)
    clusters = np.repeat(np.arange(sizes.size), sizes).astype(str)
    mats = {}
    for row in ("A", "B"):
        y, pred = simulate(sizes, 0.75, 0.6, 0.04, 5, rng)
        mats[row] = PredictionMatrix(np.arange(y.size).astype(str), y, pred, tuple(range(5)), clusters, "image", True)
    obs = observe(mats, "A")
    assert obs.accuracy == pytest.approx(0.75, abs=0.1)
    assert 0.3 < obs.icc < 0.9
    assert obs.diff_ratio == pytest.approx(2.0, rel=0.5)  # independent rows: the difference doubles the variance


def test_cheapest_design_prefers_less_training_and_says_none_when_clusters_limit():
    split = Design("split", np.full(44, 16), train_items=6000)
    cv = Design("cv", np.full(400, 36), train_items=10000, folds=5)
    opts = options([split, cv], p=0.8, icc=0.5, seed_std=0.02, diff_ratio=2.0, n_comparisons=10)
    best = cheapest(opts, 0.06)
    assert best is not None and best.design is cv and best.item.half_width <= 0.06
    cheaper = [o for o in opts if o.cost < best.cost]
    assert all(o.item.half_width > 0.06 for o in cheaper)
    assert cheapest(opts, 0.01) is None  # the clusters' part alone exceeds it


def test_no_observation_without_two_seeds():
    m = PredictionMatrix(np.array(["a", "b"]), np.array([1, 0]), np.array([[1, 0]]), (0,), np.array(["x", "y"]))
    assert observe({"A": m}, None) == Observed()
