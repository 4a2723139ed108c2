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
from reports.stats import (COUNT_METRICS, ESTIMAND_CLUSTERS, ESTIMAND_CROSSED, ESTIMAND_SEEDS, Interval,
                           aggregate_over_seeds, bell_mccaffrey_df, claim_verdict, cluster_differences,
                           cluster_index, cluster_paired_test, cluster_summary, cluster_sums, combine_seeds,
                           compare_rows, crossed_interval, crossed_variance, holm, majority_vote, mcnemar_test,
                           mean_correctness, metric_from_predictions, min_detectable_difference,
                           min_differing_clusters, paper_verdict, pseudo_values, row_intervals, seed_difference,
                           seed_interval, significance_mark)


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


# ---------------------------------------------------------------- pseudo-values

@pytest.mark.parametrize("metric", list(COUNT_METRICS))
def test_pseudo_values_average_to_each_seeds_metric(metric):
    y, p = _data(n=97, seeds=3)
    psi = pseudo_values(y, p, metric)
    assert psi.shape == (3, 97)
    assert psi.mean(axis=1) == pytest.approx([metric_from_predictions(y, s, metric) for s in p], abs=1e-9)


def test_pseudo_values_accuracy_is_correctness_and_f1_by_hand():
    y, p = _data(n=50, seeds=2)
    assert pseudo_values(y, p, "accuracy") == pytest.approx((p == y).astype(float), abs=1e-9)
    # fake F1 = 2tp / (2tp + fp + fn) with tp=2, fp=1, fn=1, tn=1: F1 = 4/6; d/dtp = 2(fp+fn)/(2tp+fp+fn)^2
    y1, p1 = np.array([1, 1, 1, 0, 0]), np.array([1, 1, 0, 1, 0])
    psi = pseudo_values(y1, p1, "fake_f1")[0]
    f1, den = 4 / 6, 6.0
    assert psi[0] == pytest.approx(f1 + 5 * 2 * 2 / den ** 2)  # a true positive
    assert psi[2] == pytest.approx(f1 - 5 * 4 / den ** 2)  # a false negative: d/dfn = −2tp/den²
    assert psi[4] == pytest.approx(f1)  # a true negative does not enter fake F1


def test_pseudo_values_auc_are_delong_placements():
    # fake scores {0.9, 0.4}, real {0.4, 0.1}: AUC 0.875; placements fake (1, 0.75), real (0.75, 1)
    y, score = np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.4, 0.1])
    psi = pseudo_values(y, (score > 0.5).astype(int), "roc_auc", score)[0]
    auc = 0.875
    assert psi.tolist() == pytest.approx([auc + 2 * (1 - auc), auc + 2 * (0.75 - auc), auc + 2 * (0.75 - auc),
                                          auc + 2 * (1 - auc)])
    assert psi.mean() == pytest.approx(roc_auc_score(y, score))
    with pytest.raises(ValueError, match="p_fake"):
        pseudo_values(y, score > 0.5, "roc_auc")
    with pytest.raises(ValueError, match="unknown metric"):
        pseudo_values(y, score > 0.5, "auc")


def test_cluster_sums_by_hand():
    sums, sizes = cluster_sums([[1, 0, 1, 1], [0, 0, 1, 0]], ["b", "a", "b", "c"])
    assert sums.tolist() == [[0, 2, 1], [0, 1, 0]] and sizes.tolist() == [1, 2, 1]


# ---------------------------------------------------------------- estimand (a)

def test_seed_interval_and_welch_by_hand():
    iv = seed_interval([0.8, 0.9, 1.0])
    se = 0.1 / math.sqrt(3)
    assert (iv.estimate, iv.se, iv.df) == (pytest.approx(0.9), pytest.approx(se), 2)
    assert iv.low == pytest.approx(0.9 - sps.t.ppf(0.975, 2) * se) and iv.estimand == ESTIMAND_SEEDS
    assert seed_interval([0.8]) is None
    d = seed_difference([0.8, 0.9, 1.0], [0.5, 0.7])
    va, vb = 0.01 / 3, 0.02 / 2
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 1)
    assert d.estimate == pytest.approx(0.3) and d.se == pytest.approx(math.sqrt(va + vb)) and d.df == pytest.approx(df)
    ref = sps.ttest_ind([0.8, 0.9, 1.0], [0.5, 0.7], equal_var=False)
    assert d.p_value == pytest.approx(ref.pvalue)
    assert seed_difference([0.8, 0.9], [0.7]) is None
    with pytest.raises(ValueError, match="finite"):
        seed_interval([0.8, float("nan")])


# ---------------------------------------------------------------- estimand (b)

def test_bell_mccaffrey_df_equal_sizes_is_g_minus_1_and_unequal_sizes_lower():
    assert bell_mccaffrey_df(np.full(10, 7)) == pytest.approx(9.0)
    assert bell_mccaffrey_df([100, 1, 1, 1, 1, 1, 1, 1, 1, 1]) < 3
    assert math.isnan(bell_mccaffrey_df([5]))


def test_crossed_variance_by_hand():
    # 3 clusters of sizes 1, 1, 2 (w = 1/4, 1/4, 1/2, H = 3/8); one row, two seeds, cluster means m_sg:
    sizes = np.array([1.0, 1.0, 2.0])
    m = np.array([[1.0, 0.0, 0.5], [1.0, 1.0, 1.0]])
    cv = crossed_variance([m * sizes], sizes)
    w, h = sizes / 4, 3 / 8
    u = m.mean(axis=0)  # 1, 0.5, 0.75
    est = u @ w  # 0.75
    v_cl = np.sum(w ** 2 * (u - est) ** 2 / (1 - 2 * w + h))
    theta_s = m @ w  # 0.5, 1.0
    s2 = np.var(theta_s, ddof=1)  # 0.125
    s2_int = np.var(m, axis=0, ddof=1) @ w ** 2  # (0, 0.5, 0.125) . (1/16, 1/16, 1/4)
    v_seed = max(0.0, (s2 - s2_int) / (1 - h)) / 2
    assert float(cv.estimate) == pytest.approx(est) and float(cv.v_cluster) == pytest.approx(v_cl)
    assert float(cv.v_seed) == pytest.approx(v_seed) and v_seed > 0
    assert float(cv.df) == 1.0  # seed part present: S - 1
    iv = crossed_interval([m * sizes], sizes)
    assert iv.se == pytest.approx(math.sqrt(v_cl + v_seed)) and iv.estimand == ESTIMAND_CROSSED
    one = crossed_interval([m[:1] * sizes], sizes)  # one seed: clusters only, Bell-McCaffrey df
    assert one.estimand == ESTIMAND_CLUSTERS and one.df == pytest.approx(bell_mccaffrey_df(sizes))
    with pytest.raises(ValueError, match="at least 2 clusters"):
        crossed_variance([np.ones((2, 1))], [3])


def test_crossed_variance_does_not_count_the_interaction_twice():
    """Seed noise independent from cluster to cluster is all interaction: the seed part stays near 0."""
    rng = np.random.default_rng(0)
    sizes = np.full(40, 10.0)
    m = rng.random((400, 5, 40))  # 400 tables, 5 seeds, no seed-wide effect
    cv = crossed_variance([m * sizes], sizes)
    naive = np.var(m.mean(axis=2), axis=1, ddof=1) / 5  # s²/S: the interaction a second time
    assert np.mean(naive) == pytest.approx(np.mean(cv.v_cluster), rel=0.1)
    assert np.mean(cv.v_seed) < 0.35 * np.mean(naive)  # what is left is the max(0, ·) truncation
    shifted = m * 0.5 + rng.normal(0, 0.2, (400, 5, 1))  # add a seed-wide effect of variance 0.04
    cv2 = crossed_variance([shifted * sizes], sizes)
    assert np.mean(cv2.v_seed) == pytest.approx(0.04 / 5, rel=0.15)


def test_compare_rows_both_estimands_and_pooled_folds():
    y, p = _data(n=120, seeds=3)
    _, q = _data(n=120, seeds=2, acc=0.6, rs=9)
    clusters = np.arange(120) // 6
    c = compare_rows(y, p, q, "accuracy", clusters)
    va, vb = [np.mean(s == y) for s in p], [np.mean(s == y) for s in q]
    assert c.difference == pytest.approx(np.mean(va) - np.mean(vb))
    assert c.seeds.estimate == pytest.approx(c.difference) and c.crossed.estimate == pytest.approx(c.difference)
    assert c.seeds.p_value == pytest.approx(sps.ttest_ind(va, vb, equal_var=False).pvalue)
    assert c.n_clusters == 20 and c.crossed.n_seeds == (3, 2)
    same = compare_rows(y, p, p, "accuracy", clusters)
    assert same.crossed.estimate == 0 and same.crossed.p_value == pytest.approx(1.0)
    # predictions pooled out of fold (each item predicted by the fold model that held it out) are one matrix
    folds = clusters % 5
    pooled = np.where(folds[None, :] < 3, p[:, :], 1 - p)
    assert compare_rows(y, pooled, q, "macro_f1", clusters).crossed.n_clusters == 20


def test_row_intervals_use_stored_seed_values():
    y, p = _data(n=60, seeds=3)
    a, b = row_intervals(y, p, "accuracy", np.arange(60) // 3, seed_values=[0.7, 0.8, 0.9])
    assert a.estimate == pytest.approx(0.8) and b.n_clusters == 20 and b.estimand == ESTIMAND_CROSSED
    a1, b1 = row_intervals(y, p[:1], "accuracy", np.arange(60) // 3)
    assert a1 is None and b1.estimand == ESTIMAND_CLUSTERS


def test_mdd_holm_and_t_by_hand():
    assert min_detectable_difference(0.01) == pytest.approx((1.959964 + 0.841621) * 0.01, rel=1e-6)
    assert min_detectable_difference(0.01, n_comparisons=10) == pytest.approx((2.807034 + 0.841621) * 0.01, rel=1e-6)
    assert min_detectable_difference(0.01, df=4) == pytest.approx((sps.t.ppf(0.975, 4) + sps.t.ppf(0.8, 4)) * 0.01)
    with pytest.raises(ValueError):
        min_detectable_difference(0.01, n_comparisons=0)


def test_min_differing_clusters():
    # 20 equal clusters: k whole clusters flipping give t = sqrt(k (G − 1) / (G − k)) (hand algebra)
    g = 20
    k = min_differing_clusters(np.ones(g), 0.05, 1)
    t = lambda k: math.sqrt(k * (g - 1) / (g - k))  # noqa: E731
    crit = sps.t.ppf(0.975, g - 1)
    assert t(k) >= crit > t(k - 1)
    assert min_differing_clusters(np.ones(g), 0.05, 10) > k  # Holm needs more
    assert min_differing_clusters([5], 0.05, 1) is None


# ---------------------------------------------------------------- verdicts

def test_paper_verdict_tost_prediction_interval_and_inconclusive():
    tight = [0.800, 0.802, 0.798, 0.801, 0.799]
    v = paper_verdict(tight, 0.805, 0.02)
    s = np.std(tight, ddof=1)
    se = s * math.sqrt(1 + 1 / 5)
    assert v.pi_low == pytest.approx(0.80 - sps.t.ppf(0.975, 4) * se)
    p_tost = max(sps.t.sf((0.80 - 0.805 + 0.02) / se, 4), sps.t.cdf((0.80 - 0.805 - 0.02) / se, 4))
    assert v.p_tost == pytest.approx(p_tost) and v.verdict == "matches (TOST, ±0.02)"
    assert paper_verdict(tight, 0.90, 0.02).verdict == "below"
    assert paper_verdict(tight, 0.70, 0.02).verdict == "above"
    wide = [0.6, 0.8, 0.7, 0.9, 0.75]
    w = paper_verdict(wide, 0.76, 0.02)
    half = sps.t.ppf(0.975, 4) * np.std(wide, ddof=1) * math.sqrt(1.2)
    assert w.verdict == f"inconclusive (±{half:.3f})"
    assert w.pi_high == 1.0 and w.pi_low == pytest.approx(0.75 - half)  # clipped to the metric's range
    assert paper_verdict([0.8], 0.8, 0.02).verdict == "no verdict (one seed)"
    with pytest.raises(ValueError):
        paper_verdict(tight, float("nan"), 0.02)


def test_claim_verdict_needs_the_interval_to_exclude_zero_on_the_papers_side():
    def iv(lo, hi, estimand=ESTIMAND_CROSSED):
        return Interval(estimand, (lo + hi) / 2, 0.1, 5, lo, hi, 0.5, 0.95, (5, 5), 20, "")
    assert claim_verdict(+0.02, iv(0.01, 0.05)) == "reproduced"
    assert claim_verdict(+0.30, iv(0.01, 0.05)) == "reproduced (smaller than stated)"
    assert claim_verdict(+0.005, iv(0.01, 0.05)) == "reproduced (larger than stated)"
    assert claim_verdict(+0.02, iv(-0.01, 0.05)) == "not shown (interval includes 0)"
    assert claim_verdict(+0.02, iv(-0.01, 0.05), iv(0.01, 0.04, ESTIMAND_SEEDS)) == "reproduced on this test set only"
    assert claim_verdict(+0.02, iv(0.01, 0.05, ESTIMAND_CLUSTERS)) == \
        "reproduced for these trained models only (one seed)"
    assert claim_verdict(+0.02, iv(-0.05, -0.01)) == "opposite"
    assert claim_verdict(-0.02, iv(-0.05, -0.01)) == "reproduced"
    with pytest.raises(ValueError):
        claim_verdict(0.0, iv(0.01, 0.05))


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


def test_significance_marks():
    assert significance_mark(0.009) == "**"
    assert significance_mark(0.01) == "*"
    assert significance_mark(0.049) == "*"
    assert significance_mark(0.05) == ""
    assert significance_mark(None) == "" and significance_mark(float("nan")) == ""
