"""reports.stats against hand computations and against statsmodels / scipy / sklearn on fixed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests

from benchmark.metrics import classification_metrics
from reports.stats import (BOOTSTRAP_METRICS, COUNT_METRICS, aggregate_over_seeds, cluster_differences,
                           cluster_index, cluster_paired_test, cluster_summary, combine_seeds,
                           hierarchical_bootstrap_ci, hierarchical_bootstrap_cis, hierarchical_bootstrap_diff_ci,
                           holm, majority_vote, mcnemar_test, mean_correctness, metric_from_predictions,
                           min_detectable_difference, paired_difference_se, reference_verdict, significance_mark)


def _pair_with(b: int, c: int, both_right: int = 10, both_wrong: int = 5):
    """y_true and two prediction vectors with exactly b (A right, B wrong) and c (A wrong, B right) items."""
    n = b + c + both_right + both_wrong
    y = np.zeros(n, dtype=int)
    y[::2] = 1
    a = y.copy()
    bb = y.copy()
    i = 0
    bb[i:i + b] = 1 - y[i:i + b]; i += b  # noqa: E702
    a[i:i + c] = 1 - y[i:i + c]; i += c  # noqa: E702
    i += both_right
    a[i:i + both_wrong] = 1 - y[i:i + both_wrong]
    bb[i:i + both_wrong] = 1 - y[i:i + both_wrong]
    return y, a, bb


# ---------------------------------------------------------------- seeds

def test_aggregate_hand_values():
    mean, std = aggregate_over_seeds([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9)
    assert std == pytest.approx(0.1)  # ddof=1: sqrt((0.01 + 0 + 0.01) / 2)


def test_aggregate_one_seed_has_nan_std():
    mean, std = aggregate_over_seeds([0.75])
    assert mean == 0.75 and math.isnan(std)


def test_aggregate_rejects_empty_and_nan():
    with pytest.raises(ValueError):
        aggregate_over_seeds([])
    with pytest.raises(ValueError, match="NaN"):
        aggregate_over_seeds([0.5, float("nan")])


# ---------------------------------------------------------------- metrics from counts

@pytest.mark.parametrize("case", ["random", "all_fake_true", "all_real_pred"])
def test_vectorised_metrics_match_benchmark_metrics(case):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 97)
    p = np.where(rng.random(97) < 0.7, y, 1 - y)
    if case == "all_fake_true":
        y = np.ones(97, dtype=int)
    if case == "all_real_pred":
        p = np.zeros(97, dtype=int)
    ref = classification_metrics(y, p)
    for m in COUNT_METRICS:
        assert metric_from_predictions(y, p, m) == pytest.approx(ref[m], abs=1e-12), m


def test_balanced_accuracy_by_hand():
    # 3 fake (2 right), 1 real (right): (2/3 + 1) / 2
    assert metric_from_predictions([1, 1, 1, 0], [1, 1, 0, 0], "balanced_accuracy") == pytest.approx(5 / 6)
    assert classification_metrics([1, 1, 1, 0], [1, 1, 0, 0])["balanced_accuracy"] == pytest.approx(5 / 6)
    # predicting the majority class always: accuracy 0.75, balanced 0.5, macro-F1 3/7
    m = classification_metrics([1, 1, 1, 0], [1, 1, 1, 1], [0.9, 0.8, 0.7, 0.6])
    assert (m["accuracy"], m["balanced_accuracy"]) == (0.75, 0.5)
    assert m["macro_f1"] == pytest.approx((6 / 7 + 0) / 2) and m["roc_auc"] == 1.0
    assert math.isnan(classification_metrics([1, 1], [1, 0])["roc_auc"])


# ---------------------------------------------------------------- hierarchical bootstrap

def _data(n=200, seeds=3, acc=0.8, rs=0):
    rng = np.random.default_rng(rs)
    y = rng.integers(0, 2, n)
    p = np.where(rng.random((seeds, n)) < acc, y, 1 - y)
    return y, p


def test_bootstrap_single_resample_equals_hand_resample():
    y, p = _data(n=50, seeds=2)
    clusters = np.array([f"c{k % 7}" for k in range(50)])  # 7 clusters; sorted keys c0..c6 -> 0..6
    ci = hierarchical_bootstrap_ci(y, p, "accuracy", clusters, n_boot=1, seed=7)
    rng = np.random.default_rng(7)
    drawn = rng.integers(0, 7, size=(1, 7))[0]  # stage 1: clusters
    seeds = rng.integers(0, 2, size=(1, 2))[0]  # stage 2: seeds
    items = np.concatenate([np.flatnonzero(np.arange(50) % 7 == g) for g in drawn])
    by_hand = np.mean([np.mean(y[items] == p[s, items]) for s in seeds])
    assert ci.low == pytest.approx(by_hand) and ci.high == pytest.approx(by_hand)
    assert ci.estimate == pytest.approx(np.mean([np.mean(y == p[s]) for s in range(2)]))
    assert ci.n_clusters == 7 and ci.n_seeds == 2 and ci.n_items == 50


def test_bootstrap_without_seed_resampling_and_item_clusters_is_the_item_bootstrap():
    y, p = _data(n=40, seeds=2)
    ci = hierarchical_bootstrap_ci(y, p, "accuracy", None, n_boot=1, seed=3, resample_seeds=False)
    idx = np.random.default_rng(3).integers(0, 40, size=(1, 40))[0]
    assert ci.low == pytest.approx(np.mean([np.mean(y[idx] == p[s, idx]) for s in range(2)]))
    assert ci.n_clusters == 40


def test_bootstrap_deterministic_contains_estimate_and_seed_matters():
    y, p = _data()
    a = hierarchical_bootstrap_ci(y, p, "fake_f1", n_boot=300, seed=1)
    b = hierarchical_bootstrap_ci(y, p, "fake_f1", n_boot=300, seed=1)
    c = hierarchical_bootstrap_ci(y, p, "fake_f1", n_boot=300, seed=2)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.low <= a.estimate <= a.high
    assert a.n_seeds == 3 and a.n_items == 200 and a.level == pytest.approx(0.95)


def test_bootstrap_clusters_widen_the_interval_when_items_of_a_cluster_agree():
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(20), 20)  # 400 items, 20 clusters of 20
    y = rng.integers(0, 2, 400)
    right = np.repeat(rng.random(20) < 0.7, 20)  # a cluster is right or wrong as a whole
    p = np.where(right, y, 1 - y)
    items = hierarchical_bootstrap_ci(y, p, "accuracy", None, n_boot=400)
    clustered = hierarchical_bootstrap_ci(y, p, "accuracy", clusters, n_boot=400)
    assert clustered.estimate == items.estimate
    assert clustered.half_width > 3 * items.half_width
    s = cluster_summary(right.astype(float), clusters)
    assert s.design_effect > 10 and s.n_clusters == 20  # ~ 1 + (20 - 1) * ICC with ICC = 1 -> 20


def test_bootstrap_seed_resampling_widens_the_interval():
    y = np.tile([0, 1], 100)
    good, bad = y.copy(), 1 - y
    seeds = np.vstack([good, bad])  # seed lottery: one perfect seed, one always wrong
    fixed = hierarchical_bootstrap_ci(y, seeds, "accuracy", n_boot=300, resample_seeds=False)
    assert fixed.low == fixed.high == 0.5
    lottery = hierarchical_bootstrap_ci(y, seeds, "accuracy", n_boot=300)
    assert lottery.low == 0.0 and lottery.high == 1.0  # both seeds drawn twice happens ~1/4 each


def test_bootstrap_perfect_predictions_have_zero_width():
    y = np.array([0, 1, 1, 0, 1])
    ci = hierarchical_bootstrap_ci(y, y, "accuracy", n_boot=50)
    assert ci.low == ci.high == ci.estimate == 1.0


def test_bootstrap_cis_equal_single_calls_and_metric_checks():
    y, p = _data()
    many = hierarchical_bootstrap_cis(y, p, ["accuracy", "real_f1"], n_boot=200, seed=5)
    assert many[0] == hierarchical_bootstrap_ci(y, p, "accuracy", n_boot=200, seed=5)
    assert many[1] == hierarchical_bootstrap_ci(y, p, "real_f1", n_boot=200, seed=5)
    with pytest.raises(ValueError, match="unknown metric"):
        hierarchical_bootstrap_ci([0, 1], [0, 1], "auc")
    with pytest.raises(ValueError, match="p_fake"):
        hierarchical_bootstrap_ci([0, 1], [0, 1], "roc_auc")
    with pytest.raises(ValueError, match="shape"):
        hierarchical_bootstrap_ci([0, 1, 1], [[0, 1]], "accuracy")


def test_weighted_auc_equals_sklearn_on_the_resampled_items():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 60)
    score = np.round(rng.random(60), 1)  # ties
    pred = (score >= 0.5).astype(int)
    clusters = np.array([f"k{g:02d}" for g in np.arange(60) // 4])  # keys sort like the numbers
    ci = hierarchical_bootstrap_ci(y, pred, "roc_auc", clusters, p_fake_by_seed=score, n_boot=1, seed=11)
    rng2 = np.random.default_rng(11)
    drawn = rng2.integers(0, 15, size=(1, 15))[0]
    items = np.concatenate([np.flatnonzero(clusters == f"k{g:02d}") for g in drawn])
    assert ci.low == pytest.approx(roc_auc_score(y[items], score[items]))
    assert ci.estimate == pytest.approx(roc_auc_score(y, score))
    # AUC by hand: fake scores {0.9, 0.4}, real {0.4, 0.1}: pairs 1 + 1 + 0.5 + 1 = 3.5 of 4
    assert metric_from_predictions([1, 1, 0, 0], [1, 0, 0, 0], "roc_auc", [0.9, 0.4, 0.4, 0.1]) == 0.875


def test_diff_ci_identical_models_is_zero_and_estimate_is_difference():
    y, p = _data(n=120)
    same = hierarchical_bootstrap_diff_ci(y, p[:1], p[:1], "accuracy", n_boot=100)
    assert same.low == same.high == same.estimate == 0.0
    _, q = _data(n=120, acc=0.6, rs=9)
    d = hierarchical_bootstrap_diff_ci(y, p, q[:2], "accuracy", np.arange(120) // 6, n_boot=300, seed=0)
    expected = np.mean([np.mean(y == s) for s in p]) - np.mean([np.mean(y == s) for s in q[:2]])
    assert d.estimate == pytest.approx(expected)
    assert d.low <= d.estimate <= d.high
    assert d.n_seeds == 2 and d.n_clusters == 20


def test_diff_ci_single_resample_by_hand():
    y, p = _data(n=30, seeds=2)
    _, q = _data(n=30, seeds=3, acc=0.6, rs=4)
    clusters = np.arange(30) // 10  # 3 clusters
    d = hierarchical_bootstrap_diff_ci(y, p, q, "accuracy", clusters, n_boot=1, seed=5)
    rng = np.random.default_rng(5)
    drawn = rng.integers(0, 3, size=(1, 3))[0]
    sa, sb = rng.integers(0, 2, size=(1, 2))[0], rng.integers(0, 3, size=(1, 3))[0]
    items = np.concatenate([np.flatnonzero(clusters == g) for g in drawn])
    acc = lambda m, s: np.mean(y[items] == m[s, items])  # noqa: E731
    assert d.low == pytest.approx(np.mean([acc(p, s) for s in sa]) - np.mean([acc(q, s) for s in sb]))


def test_bootstrap_is_fast_enough_for_a_real_table():
    import time
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 700)
    p = rng.random((5, 700))
    start = time.perf_counter()
    hierarchical_bootstrap_cis(y, (p > 0.5).astype(int), list(BOOTSTRAP_METRICS), rng.integers(0, 44, 700),
                               p_fake_by_seed=p, n_boot=2000)
    assert time.perf_counter() - start < 5.0


# ---------------------------------------------------------------- clusters, design effect, paired test

def test_cluster_summary_by_hand():
    # values 1,1 | 0,0 | 1,0 in clusters a, b, c: mean 1/2, residuals +.5 +.5 | -.5 -.5 | +.5 -.5
    s = cluster_summary([1, 1, 0, 0, 1, 0], ["a", "a", "b", "b", "c", "c"])
    v_iid = 6 * 0.25 / (6 * 5)  # 0.05
    v_cl = 3 / 2 * (1 ** 2 + 1 ** 2 + 0 ** 2) / 36  # 1/12
    assert s.design_effect == pytest.approx(v_cl / v_iid) == pytest.approx(5 / 3)
    assert s.effective_n == pytest.approx(6 / (5 / 3))
    assert (s.n_items, s.n_clusters, s.largest_share) == (6, 3, pytest.approx(1 / 3))
    assert cluster_summary([1, 1, 1], ["a", "b", "c"]).design_effect == 1.0
    assert math.isnan(cluster_summary([1, 0], ["a", "a"]).design_effect)


def test_cluster_index_sorted_keys_and_none():
    inv, g = cluster_index(["b", "a", "b", "c"], 4)
    assert inv.tolist() == [1, 0, 1, 2] and g == 3
    inv, g = cluster_index(None, 3)
    assert inv.tolist() == [0, 1, 2] and g == 3
    with pytest.raises(ValueError, match="one key per item"):
        cluster_index(["a"], 2)


def test_mean_correctness_and_cluster_differences_by_hand():
    y = np.array([1, 0, 1, 0])
    a = np.array([[1, 0, 0, 0], [1, 1, 1, 0]])  # correctness per item: 1, 1/2, 1/2, 1
    b = np.array([0, 0, 1, 1])  # 0, 1, 1, 0
    assert mean_correctness(y, a).tolist() == [1, 0.5, 0.5, 1]
    # clusters x = items 0, 1; z = items 2, 3: D_x = (1 - 0) + (1/2 - 1), D_z = (1/2 - 1) + (1 - 0)
    assert cluster_differences(y, a, b, ["x", "x", "z", "z"]).tolist() == [0.5, 0.5]


def _pred_with_cluster_diffs(diffs):
    """y, A, B with one cluster per entry of ``diffs`` (integers): |D_g| items where one side is right."""
    y, a, b, keys = [], [], [], []
    for g, d in enumerate(diffs):
        for _ in range(abs(d)):
            y.append(1)
            a.append(1 if d > 0 else 0)
            b.append(0 if d > 0 else 1)
            keys.append(f"g{g:02d}")
        y.append(0), a.append(0), b.append(0), keys.append(f"g{g:02d}")  # one item both get right
    return np.array(y), np.array(a), np.array(b), np.array(keys)


def test_cluster_paired_test_exact_hand_value():
    # D = (2, -1, 4): T = 5; the 8 sign patterns give |T*| = 7, 5, 3, 1, 1, 3, 5, 7 -> 4 of 8 reach 5
    y, a, b, keys = _pred_with_cluster_diffs([2, -1, 4])
    res = cluster_paired_test(y, a, b, keys)
    assert res.p_value == pytest.approx(0.5) and res.n_perm == 0
    assert res.statistic == pytest.approx(25 / 21)  # Durkalski: T^2 / sum D_g^2 = 25 / (4 + 1 + 16)
    assert res.p_chi2 == pytest.approx(sps.chi2.sf(25 / 21, 1))
    assert res.difference == pytest.approx(5 / len(y))
    assert (res.n_clusters, res.n_discordant_clusters) == (3, 3)
    swapped = cluster_paired_test(y, b, a, keys)
    assert swapped.p_value == res.p_value and swapped.difference == -res.difference


def test_cluster_paired_test_one_item_clusters_is_exact_mcnemar():
    y, a, b = _pair_with(1, 6)
    res = cluster_paired_test(y, a, b)
    assert res.p_value == pytest.approx(mcnemar_test(y, a, b).p_value) == pytest.approx(16 / 128)


def test_cluster_paired_test_no_difference_and_monte_carlo():
    y, a, _ = _pair_with(3, 0)
    assert cluster_paired_test(y, a, a).p_value == 1.0
    y, a, b, keys = _pred_with_cluster_diffs([1] * 20)  # 20 clusters all favour A: 2 / 2^20 exactly
    res = cluster_paired_test(y, a, b, keys, n_perm=2000, seed=1)
    assert res.n_perm == 2000 and res.p_value == pytest.approx(1 / 2001)
    assert cluster_paired_test(y, a, b, keys, n_perm=2000, seed=1) == res


def test_paired_difference_se_and_mdd_by_hand():
    # per-item differences d = 1, 0 | -1, 0 | 1, 1 in clusters a, b, c; mean 1/3
    y = np.ones(6, dtype=int)
    a = np.array([1, 1, 0, 1, 1, 1])
    b = np.array([0, 1, 1, 1, 0, 0])
    resid = [1 - 2 / 3, -1 - 2 / 3, 2 - 2 / 3]  # D_g - n_g * mean
    se = math.sqrt(3 / 2 * sum(r ** 2 for r in resid)) / 6
    assert paired_difference_se(y, a, b, ["a", "a", "b", "b", "c", "c"]) == pytest.approx(se)
    assert min_detectable_difference(0.01) == pytest.approx((1.959964 + 0.841621) * 0.01, rel=1e-6)
    assert min_detectable_difference(0.01, alpha=0.01, power=0.9) == pytest.approx((2.575829 + 1.281552) * 0.01,
                                                                                   rel=1e-6)


# ---------------------------------------------------------------- McNemar

def test_mcnemar_exact_hand_value_b1_c6():
    y, a, b = _pair_with(1, 6)
    res = mcnemar_test(y, a, b)
    # two-sided binomial, n = 7, p = 1/2: 2 * (C(7,0) + C(7,1)) / 2^7 = 16 / 128
    assert (res.b, res.c) == (1, 6)
    assert res.p_value == pytest.approx(16 / 128)
    assert res.statistic == 1  # statsmodels' exact statistic: min(b, c)
    assert res.method.startswith("exact binomial")
    assert res.p_value == pytest.approx(sps.binomtest(1, 7, 0.5).pvalue)


def test_mcnemar_chi2_corrected_hand_value_b30_c10():
    y, a, b = _pair_with(30, 10)
    res = mcnemar_test(y, a, b)
    stat = (abs(30 - 10) - 1) ** 2 / (30 + 10)  # 361 / 40
    assert res.statistic == pytest.approx(9.025) == stat
    assert res.p_value == pytest.approx(math.erfc(math.sqrt(stat / 2)))  # chi2(1) survival, by hand
    assert res.p_value == pytest.approx(sps.chi2.sf(stat, 1))
    assert res.method.startswith("chi-square with continuity correction")


def test_mcnemar_switches_form_at_25():
    assert mcnemar_test(*_pair_with(20, 4)).method.startswith("exact")
    assert mcnemar_test(*_pair_with(20, 5)).method.startswith("chi-square")


def test_mcnemar_matches_statsmodels_on_random_inputs():
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 400)
    a = np.where(rng.random(400) < 0.85, y, 1 - y)
    b = np.where(rng.random(400) < 0.75, y, 1 - y)
    res = mcnemar_test(y, a, b)
    ra, rb = a == y, b == y
    table = [[np.sum(ra & rb), np.sum(ra & ~rb)], [np.sum(~ra & rb), np.sum(~ra & ~rb)]]
    ref = sm_mcnemar(table, exact=False, correction=True)
    assert res.b + res.c >= 25
    assert res.statistic == pytest.approx(ref.statistic) and res.p_value == pytest.approx(ref.pvalue)
    # order matters only for b and c, not for p
    swapped = mcnemar_test(y, b, a)
    assert (swapped.b, swapped.c) == (res.c, res.b) and swapped.p_value == pytest.approx(res.p_value)


def test_mcnemar_identical_models_and_no_discordant_pairs():
    y, a, _ = _pair_with(0, 0)
    res = mcnemar_test(y, a, a.copy())
    assert (res.b, res.c, res.statistic, res.p_value) == (0, 0, 0.0, 1.0)
    assert "no discordant" in res.method
    # both models wrong on every item: still no discordant pair
    y2 = np.array([1, 0, 1, 0])
    assert mcnemar_test(y2, 1 - y2, 1 - y2).p_value == 1.0


def test_majority_vote_ties_are_undecided_not_a_seed():
    preds = np.array([[1, 0, 1, 0],
                      [1, 1, 0, 0],
                      [0, 1, 0, 0]])
    assert majority_vote(preds).tolist() == [1, 1, 0, 0]
    even = np.array([[1, 0, 1], [0, 1, 1]])
    assert majority_vote(even).tolist() == [-1, -1, 1]
    assert combine_seeds(even, "first").tolist() == [1, 0, 1]
    assert combine_seeds(np.array([[0, 1, 1], [1, 0, 1]]), "majority").tolist() == [-1, -1, 1]
    with pytest.raises(ValueError):
        combine_seeds(even, "median")


def test_mcnemar_several_seeds_uses_majority_vote_and_leaves_ties_out():
    y = np.array([1, 1, 1, 0, 0, 0])
    a = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 1]])  # vote: all right
    b = np.array([[0, 1, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0], [1, 0, 1, 0, 0, 0]])  # vote: items 0, 1 wrong
    res = mcnemar_test(y, a, b)
    assert (res.b, res.c, res.n_excluded) == (2, 0, 0)
    assert res.p_value == pytest.approx(0.5)  # 2 * (1/2)^2
    first = mcnemar_test(y, a, b, combine="first")
    assert (first.b, first.c) == (1, 0)
    # two seeds: A's seeds tie on item 2, B's on item 1; both items are left out (not given to seed 0's
    # vote); item 0: A right, B wrong
    tie = mcnemar_test(y, a[:2], b[:2])
    assert (tie.b, tie.c, tie.n_excluded) == (1, 0, 2) and "tied seed votes" in tie.method


# ---------------------------------------------------------------- Holm, verdicts, marks

def test_holm_by_hand_and_against_statsmodels():
    p = [0.01, 0.04, 0.03]
    # sorted 0.01, 0.03, 0.04 -> 3*0.01 = 0.03, 2*0.03 = 0.06, max(1*0.04, 0.06) = 0.06
    assert holm(p).tolist() == pytest.approx([0.03, 0.06, 0.06])
    q = np.array([0.2, 0.001, 0.5, 0.012])
    assert holm(q) == pytest.approx(multipletests(q, method="holm")[1])


def test_holm_keeps_nan_out_of_the_family():
    out = holm([0.01, float("nan"), 0.04])
    assert math.isnan(out[1]) and out[[0, 2]].tolist() == pytest.approx([0.02, 0.04])
    assert holm([]).size == 0


def test_reference_verdicts():
    assert reference_verdict(0.90, 0.88, 0.92) == "reproduced"
    assert reference_verdict(0.88, 0.88, 0.92) == "reproduced"  # bounds are inside
    assert reference_verdict(0.95, 0.88, 0.92) == "below"
    assert reference_verdict(0.85, 0.88, 0.92) == "above"
    assert reference_verdict(0.95, 0.80, 0.90) == "below"  # half-width exactly 0.05: still decided
    assert reference_verdict(0.95, 0.70, 0.90) == "inconclusive (±0.100)"  # too wide, whatever the value
    assert reference_verdict(10.0, 2.0, 20.0, max_half_width=5.0) == "inconclusive (±9.00)"
    with pytest.raises(ValueError):
        reference_verdict(float("nan"), 0.1, 0.2)
    with pytest.raises(ValueError):
        reference_verdict(0.5, 0.3, 0.2)


def test_significance_marks():
    assert significance_mark(0.009) == "**"
    assert significance_mark(0.01) == "*"
    assert significance_mark(0.049) == "*"
    assert significance_mark(0.05) == ""
    assert significance_mark(None) == "" and significance_mark(float("nan")) == ""
