"""reports.stats against hand computations and against statsmodels / scipy / sklearn on fixed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import accuracy_score, f1_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests

from benchmark.metrics import classification_metrics
from reports.stats import (BOOTSTRAP_METRICS, aggregate_over_seeds, combine_seeds, holm, majority_vote,
                           mcnemar_test, metric_from_predictions, paired_bootstrap_ci, paired_bootstrap_cis,
                           paired_bootstrap_diff_ci, reference_verdict, significance_mark)


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
    for m in BOOTSTRAP_METRICS:
        assert metric_from_predictions(y, p, m) == pytest.approx(ref[m], abs=1e-12), m


def test_unknown_metric_is_rejected():
    with pytest.raises(ValueError, match="unknown metric"):
        paired_bootstrap_ci([0, 1], [0, 1], "auc")


# ---------------------------------------------------------------- bootstrap

def _data(n=200, seeds=3, acc=0.8, rs=0):
    rng = np.random.default_rng(rs)
    y = rng.integers(0, 2, n)
    p = np.where(rng.random((seeds, n)) < acc, y, 1 - y)
    return y, p


def test_bootstrap_single_resample_equals_hand_resample():
    y, p = _data(n=50, seeds=2)
    ci = paired_bootstrap_ci(y, p, "accuracy", n_boot=1, seed=7)
    idx = np.random.default_rng(7).integers(0, 50, size=(1, 50))[0]
    by_hand = np.mean([np.mean(y[idx] == p[s, idx]) for s in range(2)])
    assert ci.low == pytest.approx(by_hand) and ci.high == pytest.approx(by_hand)
    assert ci.estimate == pytest.approx(np.mean([np.mean(y == p[s]) for s in range(2)]))


def test_bootstrap_deterministic_contains_estimate_and_seed_matters():
    y, p = _data()
    a = paired_bootstrap_ci(y, p, "fake_f1", n_boot=300, seed=1)
    b = paired_bootstrap_ci(y, p, "fake_f1", n_boot=300, seed=1)
    c = paired_bootstrap_ci(y, p, "fake_f1", n_boot=300, seed=2)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.low <= a.estimate <= a.high
    assert a.n_seeds == 3 and a.n_items == 200 and a.level == pytest.approx(0.95)


def test_bootstrap_does_not_depend_on_chunking():
    y, p = _data(n=90)
    whole = paired_bootstrap_ci(y, p, "fake_f1", n_boot=120, seed=3, chunk=120)
    pieces = paired_bootstrap_ci(y, p, "fake_f1", n_boot=120, seed=3, chunk=7)
    assert whole == pieces
    d1 = paired_bootstrap_diff_ci(y, p, p[::-1] ^ 1, "accuracy", n_boot=50, seed=1, chunk=50)
    d2 = paired_bootstrap_diff_ci(y, p, p[::-1] ^ 1, "accuracy", n_boot=50, seed=1, chunk=3)
    assert d1 == d2


def test_bootstrap_narrower_with_more_items():
    y, p = _data(n=100)
    small = paired_bootstrap_ci(y, p, "accuracy", n_boot=400, seed=0)
    big = paired_bootstrap_ci(np.tile(y, 9), np.tile(p, (1, 9)), "accuracy", n_boot=400, seed=0)
    assert big.estimate == pytest.approx(small.estimate)
    assert (big.high - big.low) < 0.6 * (small.high - small.low)  # ~1/3 expected


def test_bootstrap_perfect_predictions_have_zero_width():
    y = np.array([0, 1, 1, 0, 1])
    ci = paired_bootstrap_ci(y, y, "accuracy", n_boot=50)
    assert ci.low == ci.high == ci.estimate == 1.0


def test_bootstrap_one_dim_is_one_seed_and_callable_matches_name():
    y, p = _data(n=80, seeds=1)
    named = paired_bootstrap_ci(y, p[0], "weighted_f1", n_boot=60, seed=4)
    func = paired_bootstrap_ci(y, p, lambda t, q: f1_score(t, q, average="weighted", labels=[0, 1],
                                                          zero_division=0), n_boot=60, seed=4)
    assert named.low == pytest.approx(func.low) and named.high == pytest.approx(func.high)
    micro = paired_bootstrap_ci(y, p, "micro_f1", n_boot=60, seed=4)
    acc = paired_bootstrap_ci(y, p, accuracy_score, n_boot=60, seed=4)
    assert (micro.low, micro.high) == pytest.approx((acc.low, acc.high))


def test_bootstrap_cis_equal_single_calls():
    y, p = _data()
    many = paired_bootstrap_cis(y, p, ["accuracy", "real_f1"], n_boot=200, seed=5)
    assert many[0] == paired_bootstrap_ci(y, p, "accuracy", n_boot=200, seed=5)
    assert many[1] == paired_bootstrap_ci(y, p, "real_f1", n_boot=200, seed=5)


def test_bootstrap_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        paired_bootstrap_ci([0, 1, 1], [[0, 1]], "accuracy")


def test_diff_ci_identical_models_is_zero_and_estimate_is_difference():
    y, p = _data(n=120)
    same = paired_bootstrap_diff_ci(y, p, p, "accuracy", n_boot=100)
    assert same.low == same.high == same.estimate == 0.0
    _, q = _data(n=120, acc=0.6, rs=9)
    d = paired_bootstrap_diff_ci(y, p, q[:2], "accuracy", n_boot=300, seed=0)
    expected = np.mean([np.mean(y == s) for s in p]) - np.mean([np.mean(y == s) for s in q[:2]])
    assert d.estimate == pytest.approx(expected)
    assert d.low <= d.estimate <= d.high
    assert d.n_seeds == 2


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


def test_majority_vote_and_ties_take_first_seed():
    preds = np.array([[1, 0, 1, 0],
                      [1, 1, 0, 0],
                      [0, 1, 0, 0]])
    assert majority_vote(preds).tolist() == [1, 1, 0, 0]
    even = np.array([[1, 0, 1], [0, 1, 1]])
    assert majority_vote(even).tolist() == [1, 0, 1]
    assert combine_seeds(even, "first").tolist() == [1, 0, 1]
    assert combine_seeds(np.array([[0, 1, 1], [1, 0, 1]]), "majority").tolist() == [0, 1, 1]
    with pytest.raises(ValueError):
        combine_seeds(even, "median")


def test_mcnemar_several_seeds_uses_majority_vote():
    y = np.array([1, 1, 1, 0, 0, 0])
    a = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 1]])  # vote: all right
    b = np.array([[0, 1, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0], [1, 0, 1, 0, 0, 0]])  # vote: items 0, 1 wrong
    res = mcnemar_test(y, a, b)
    assert (res.b, res.c) == (2, 0)
    assert res.p_value == pytest.approx(0.5)  # 2 * (1/2)^2
    first = mcnemar_test(y, a, b, combine="first")
    assert (first.b, first.c) == (1, 0)


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
