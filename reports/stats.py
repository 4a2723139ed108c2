"""Statistics behind every reproduced cell: clusters, hierarchical bootstrap, clustered paired tests, Holm.

Why these and why here: a table cell must say more than one number, and the number it adds must not
overstate what the test set can tell. Test items are not independent: tweets that share an image
(MediaEval 2016: 698 test tweets, 44 images) nearly always get the same prediction, and a model's
number moves with its training seed. So

* every item carries a **cluster** key (its image by default, see :mod:`benchmark.data.clusters`);
* intervals come from a **two-stage (hierarchical) bootstrap** that resamples clusters and then
  training seeds (:func:`hierarchical_bootstrap_cis`, :func:`hierarchical_bootstrap_diff_ci`);
* two rows are compared by a **cluster sign-flip permutation test** on per-cluster differences in
  correctness (:func:`cluster_paired_test`), whose statistic is the clustered McNemar statistic of
  Durkalski et al. (2003); Holm-corrected across a table (:func:`holm`);
* a verdict against a paper's value is given only when the interval is narrow enough, else it is
  "inconclusive (±half-width)" (:func:`reference_verdict`);
* the plain item-level McNemar test (:func:`mcnemar_test`) stays only where a paper used it
  (NovEmoFake Table 7) and is labelled so.

Everything here is a pure function over arrays (seeds x items), seeded where random, with no I/O,
so it can be tested against exact hand computations.

Conventions
-----------
* Labels: 1 = fake (the positive class), 0 = real, as in :mod:`benchmark.metrics`.
* ``y_pred_by_seed`` is an integer array of shape ``(n_seeds, n_items)``; a 1-D array is one seed.
  Every seed must have been scored on the same items in the same order (the caller aligns by
  ``item_id``). ``p_fake_by_seed`` (same shape, probabilities of "fake") is needed only for ROC-AUC.
* ``clusters`` is one key per item (any hashable, compared as strings); ``None`` means every item is
  its own cluster (the independence assumption, stated explicitly by the caller).
* Seeds are never combined by a tie-break: paired statistics use each item's **mean correctness over
  seeds** (a value in [0, 1]); the item-level McNemar uses the majority vote and leaves out items
  whose seeds tie (reported as ``n_excluded``).

References
----------
* Davison, A. C. & Hinkley, D. V. (1997). *Bootstrap Methods and their Application*, §3.8
  (resampling the top stage of a hierarchical design); Field, C. A. & Welsh, A. H. (2007).
  Bootstrapping clustered data. *JRSS B* 69(3), 369-390.
* Durkalski, V. L., Palesch, Y. Y., Lipsitz, S. R. & Rust, P. F. (2003). Analysis of clustered
  matched-pair data. *Statistics in Medicine* 22(15), 2417-2428 (clustered McNemar statistic).
* Obuchowski, N. A. (1998). On the comparison of correlated proportions for clustered data.
  *Statistics in Medicine* 17(13), 1495-1507.
* Fisher, R. A. (1935), *The Design of Experiments*, §21 (sign-flip randomisation test); Phipson, B. &
  Smyth, G. K. (2010). Permutation p-values should never be zero. *SAGMB* 9(1) ((1 + k) / (1 + B)).
* Kish, L. (1965). *Survey Sampling* (design effect, effective sample size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as _sps
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar
from statsmodels.stats.multitest import multipletests

__all__ = [
    "BOOTSTRAP_METRICS", "COUNT_METRICS", "ConfidenceInterval", "McNemarResult", "ClusterSummary",
    "PairedTestResult", "EXACT_BELOW", "MAX_HALF_WIDTH", "MIN_SEEDS", "EXACT_MAX_CLUSTERS",
    "aggregate_over_seeds", "metric_from_predictions", "cluster_index", "cluster_summary",
    "hierarchical_bootstrap_cis", "hierarchical_bootstrap_ci", "hierarchical_bootstrap_diff_ci",
    "mean_correctness", "cluster_differences", "cluster_paired_test", "paired_difference_se",
    "min_detectable_difference", "majority_vote", "combine_seeds", "mcnemar_test", "holm",
    "reference_verdict", "significance_mark",
]

#: McNemar uses the exact binomial test when the discordant count b + c is below this.
EXACT_BELOW = 25
#: a verdict ("reproduced" / "below" / "above") needs an interval half-width at most this (metric units)
MAX_HALF_WIDTH = 0.05
#: a comparison resting on fewer seeds than this per row is flagged in the report
MIN_SEEDS = 5
#: the sign-flip test enumerates all 2^k sign patterns when at most this many clusters differ
EXACT_MAX_CLUSTERS = 16


# ---------------------------------------------------------------------------------------------
# seeds


def aggregate_over_seeds(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) over seeds.

    With one seed the standard deviation is undefined and returned as ``nan`` (renderers say
    "one seed" instead of printing a spread). NaN values (a metric a run did not report) are an error,
    not silently dropped: a mean over fewer seeds than the header says would mislead.
    """
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("aggregate_over_seeds needs at least one value (no finished seed for this cell)")
    if np.isnan(arr).any():
        raise ValueError(f"aggregate_over_seeds got NaN among {arr.tolist()}; a seed lacks this metric")
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if arr.size > 1 else float("nan")
    return mean, std


# ---------------------------------------------------------------------------------------------
# metrics from (weighted) confusion counts, vectorised over resamples


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0 (sklearn's zero_division=0)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.zeros(np.broadcast(num, den).shape, dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _counts_metric(name: str, tp, fp, fn, tn) -> np.ndarray:
    """A metric of :func:`benchmark.metrics.classification_metrics` from confusion counts (fake = 1).

    Counts may be weighted (a cluster drawn twice counts its items twice).
    """
    tp, fp, fn, tn = (np.asarray(x, dtype=float) for x in (tp, fp, fn, tn))
    n = tp + fp + fn + tn
    f1_fake = _safe_div(2 * tp, 2 * tp + fp + fn)
    f1_real = _safe_div(2 * tn, 2 * tn + fn + fp)

    def balanced():  # mean recall over the classes present in y_true (sklearn balanced_accuracy_score)
        has_fake, has_real = (tp + fn) > 0, (tn + fp) > 0
        return _safe_div(_safe_div(tp, tp + fn) * has_fake + _safe_div(tn, tn + fp) * has_real,
                         has_fake.astype(float) + has_real)

    table = {
        "accuracy": lambda: _safe_div(tp + tn, n),
        "micro_f1": lambda: _safe_div(tp + tn, n),  # binary, both labels: micro F1 == accuracy
        "balanced_accuracy": balanced,
        "fake_precision": lambda: _safe_div(tp, tp + fp),
        "fake_recall": lambda: _safe_div(tp, tp + fn),
        "fake_f1": lambda: f1_fake,
        "real_precision": lambda: _safe_div(tn, tn + fn),
        "real_recall": lambda: _safe_div(tn, tn + fp),
        "real_f1": lambda: f1_real,
        "macro_f1": lambda: (f1_fake + f1_real) / 2.0,
        "weighted_f1": lambda: _safe_div((tp + fn) * f1_fake + (tn + fp) * f1_real, n),
    }
    if name not in table:
        raise ValueError(f"unknown metric {name!r}; choose one of {sorted(table)} or roc_auc")
    return table[name]()


#: metrics computed from confusion counts (same definitions as benchmark.metrics)
COUNT_METRICS = ("accuracy", "balanced_accuracy", "fake_precision", "fake_recall", "fake_f1", "real_precision",
                 "real_recall", "real_f1", "macro_f1", "micro_f1", "weighted_f1")
#: every metric the bootstrap computes in vectorised form; roc_auc needs p_fake
BOOTSTRAP_METRICS = (*COUNT_METRICS, "roc_auc")

MetricArg = str


def _weighted_auc(y_true: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC of ``score`` for each row of item ``weights`` (R, n); ties count one half; NaN if a class is absent.

    AUC = sum over (fake i, real j) of w_i w_j [s_i > s_j] + 0.5 w_i w_j [s_i = s_j], over W_fake W_real
    (Mann-Whitney form). With unit weights it equals sklearn's roc_auc_score.
    """
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    w = weights[:, order]
    pos = (y_true[order] == 1)
    gp = np.add.reduceat(w * pos, starts, axis=1)
    gn = np.add.reduceat(w * ~pos, starts, axis=1)
    below = np.cumsum(gn, axis=1) - gn
    num = np.sum(gp * (below + 0.5 * gn), axis=1)
    den = gp.sum(axis=1) * gn.sum(axis=1)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _as_seed_matrix(y_pred_by_seed, n_items: int, what: str = "y_pred_by_seed", dtype=int) -> np.ndarray:
    arr = np.asarray(y_pred_by_seed)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_items:
        raise ValueError(f"{what} must have shape (n_seeds, {n_items}) or ({n_items},); got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{what} has no seeds")
    return arr.astype(dtype)


def _check_metric(metric: MetricArg, has_scores: bool) -> None:
    if metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {list(BOOTSTRAP_METRICS)}")
    if metric == "roc_auc" and not has_scores:
        raise ValueError("roc_auc needs p_fake (the predicted probability of 'fake') for every seed")


def _weighted_metric_by_seed(metric: str, y_true: np.ndarray, preds: np.ndarray, scores: np.ndarray | None,
                             weights: np.ndarray) -> np.ndarray:
    """Metric value for every (resample, seed): item ``weights`` (R, n) -> array (R, S)."""
    if metric == "roc_auc":
        return np.stack([_weighted_auc(y_true, sc, weights) for sc in scores], axis=1)
    yt = (y_true == 1)[None, :]
    yp = preds == 1
    counts = [weights @ m.T.astype(float) for m in (yt & yp, ~yt & yp, yt & ~yp, ~yt & ~yp)]
    return _counts_metric(metric, *counts)


def metric_from_predictions(y_true, y_pred, metric: MetricArg, p_fake=None) -> float:
    """One metric for one prediction vector (fake = 1); ``p_fake`` is needed for roc_auc."""
    y_true = np.asarray(y_true, dtype=int).ravel()
    _check_metric(metric, p_fake is not None)
    preds = _as_seed_matrix(y_pred, y_true.size)
    scores = None if p_fake is None else _as_seed_matrix(p_fake, y_true.size, "p_fake", float)
    return float(_weighted_metric_by_seed(metric, y_true, preds, scores, np.ones((1, y_true.size)))[0, 0])


# ---------------------------------------------------------------------------------------------
# clusters: index, design effect


def cluster_index(clusters, n_items: int) -> tuple[np.ndarray, int]:
    """(cluster number of each item, number of clusters); clusters are numbered in sorted key order.

    ``None`` makes every item its own cluster, numbered in item order.
    """
    if clusters is None:
        return np.arange(n_items), n_items
    keys = np.asarray(clusters).astype(str).ravel()
    if keys.size != n_items:
        raise ValueError(f"clusters must give one key per item ({n_items}); got {keys.size}")
    _, inverse = np.unique(keys, return_inverse=True)
    return inverse.ravel(), int(inverse.max()) + 1 if n_items else 0


@dataclass(frozen=True)
class ClusterSummary:
    """How much the clusters shrink a test set (Kish 1965).

    ``design_effect`` = (cluster-robust variance of the mean) / (variance assuming independent items);
    ``effective_n`` = n_items / design_effect; ``largest_share`` = the largest cluster's share of items.
    """

    n_items: int
    n_clusters: int
    largest_share: float
    design_effect: float
    effective_n: float


def cluster_summary(values, clusters) -> ClusterSummary:
    """Design effect of the mean of per-item ``values`` (e.g. correctness averaged over seeds and rows).

    V_iid = sum_i (v_i - v̄)² / (n (n - 1));  V_cl = G / (G - 1) · sum_g (sum_{i in g} (v_i - v̄))² / n²
    (the linearised, cluster-robust variance of a mean); design effect = V_cl / V_iid. With no
    variation (V_iid = 0) the design effect is 1; with one cluster it is undefined (NaN).
    """
    v = np.asarray(values, dtype=float).ravel()
    n = v.size
    if n == 0:
        raise ValueError("cluster_summary needs at least one item")
    inv, g = cluster_index(clusters, n)
    sizes = np.bincount(inv, minlength=g)
    resid = v - v.mean()
    v_iid = float(np.sum(resid ** 2) / (n * (n - 1))) if n > 1 else float("nan")
    if g < 2 or not np.isfinite(v_iid):
        deff = float("nan")
    elif v_iid == 0:
        deff = 1.0
    else:
        v_cl = g / (g - 1) * float(np.sum(np.bincount(inv, weights=resid, minlength=g) ** 2)) / n ** 2
        deff = v_cl / v_iid
    eff = n / deff if deff and np.isfinite(deff) and deff > 0 else float("nan")
    return ClusterSummary(n, g, float(sizes.max() / n), deff, eff)


# ---------------------------------------------------------------------------------------------
# hierarchical bootstrap


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its percentile interval from the hierarchical bootstrap."""

    estimate: float  # seed-averaged metric on the full test set (or the difference of two such)
    low: float
    high: float
    level: float  # e.g. 0.95
    n_boot: int
    n_items: int
    n_seeds: int  # the smaller side's for a difference
    n_clusters: int = 0

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0


def _check_boot_args(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")


#: at most this many (resample x item) weights are held at once
_MAX_CELLS_PER_CHUNK = 4_000_000


def _side(y_true: np.ndarray, preds, scores, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    p = _as_seed_matrix(preds, y_true.size, what)
    s = None if scores is None else _as_seed_matrix(scores, y_true.size, f"{what} p_fake", float)
    if s is not None and s.shape != p.shape:
        raise ValueError(f"{what}: p_fake has shape {s.shape} but predictions {p.shape}")
    return p, s


def _boot_values(y_true, inv, draws_c, sides, metrics, seed_draws) -> list[list[np.ndarray]]:
    """values[side][metric] -> (n_boot,) seed-averaged metric per resample (chunked over resamples)."""
    n_boot, g = draws_c.shape
    n = y_true.size
    step = max(1, _MAX_CELLS_PER_CHUNK // max(1, n))
    out = [[np.empty(n_boot) for _ in metrics] for _ in sides]
    for lo in range(0, n_boot, step):
        hi = min(n_boot, lo + step)
        rows = draws_c[lo:hi]
        r = rows.shape[0]
        counts = np.bincount((rows + g * np.arange(r)[:, None]).ravel(), minlength=r * g).reshape(r, g)
        weights = counts[:, inv].astype(float)  # (r, n): how often each item's cluster was drawn
        for k, (preds, scores) in enumerate(sides):
            for j, metric in enumerate(metrics):
                by_seed = _weighted_metric_by_seed(metric, y_true, preds, scores, weights)  # (r, S)
                if seed_draws[k] is not None:
                    by_seed = np.take_along_axis(by_seed, seed_draws[k][lo:hi], axis=1)
                with np.errstate(all="ignore"):
                    out[k][j][lo:hi] = np.nanmean(by_seed, axis=1) if np.isnan(by_seed).any() else by_seed.mean(1)
    return out


def _draw(rng: np.random.Generator, n_boot: int, g: int, seed_counts: Sequence[int], resample_seeds: bool):
    """The resampling plan: clusters first (n_boot, G), then seed indices (n_boot, S) for each side in order."""
    draws_c = rng.integers(0, g, size=(n_boot, g))
    seed_draws = [rng.integers(0, s, size=(n_boot, s)) if resample_seeds else None for s in seed_counts]
    return draws_c, seed_draws


def _quantiles(values: np.ndarray, alpha: float) -> tuple[float, float]:
    vals = values[np.isfinite(values)]
    if vals.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(vals, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def _estimate(y_true, preds, scores, metric) -> float:
    by_seed = _weighted_metric_by_seed(metric, y_true, preds, scores, np.ones((1, y_true.size)))[0]
    return float(np.nanmean(by_seed)) if np.isfinite(by_seed).any() else float("nan")


def hierarchical_bootstrap_cis(y_true, y_pred_by_seed, metrics: Sequence[MetricArg], clusters=None, *,
                               p_fake_by_seed=None, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
                               resample_seeds: bool = True) -> list[ConfidenceInterval]:
    """Two-stage percentile bootstrap interval of a seed-averaged metric, for several metrics at once.

    Stage 1 draws G clusters with replacement out of the G test clusters (every item of a drawn cluster
    enters, as often as its cluster was drawn); stage 2 draws S training seeds with replacement out of
    the S seeds. The statistic of a resample is the metric on the stage-1 items, averaged over the
    stage-2 seeds. Items inside a cluster are not resampled again (Davison & Hinkley 1997 §3.8; Field &
    Welsh 2007: resampling the top stage alone is nearly unbiased for the variance; resampling both
    stages overstates it). ``estimate`` is the seed mean on the full test set.

    The resampling plan is drawn first, from ``numpy.random.default_rng(seed)``: cluster indices
    ``integers(0, G, (n_boot, G))`` then seed indices ``integers(0, S, (n_boot, S))``; clusters are
    numbered in sorted key order (:func:`cluster_index`). ``clusters=None``: every item is a cluster.
    """
    _check_boot_args(n_boot, alpha)
    for m in metrics:
        _check_metric(m, p_fake_by_seed is not None)
    y_true = np.asarray(y_true, dtype=int).ravel()
    n = y_true.size
    if n == 0:
        raise ValueError("cannot bootstrap an empty test split")
    preds, scores = _side(y_true, y_pred_by_seed, p_fake_by_seed, "y_pred_by_seed")
    inv, g = cluster_index(clusters, n)
    draws_c, seed_draws = _draw(np.random.default_rng(seed), n_boot, g, [preds.shape[0]], resample_seeds)
    values = _boot_values(y_true, inv, draws_c, [(preds, scores)], list(metrics), seed_draws)[0]
    out = []
    for metric, vals in zip(metrics, values):
        low, high = _quantiles(vals, alpha)
        out.append(ConfidenceInterval(_estimate(y_true, preds, scores, metric), low, high, 1.0 - alpha, n_boot,
                                      n, preds.shape[0], g))
    return out


def hierarchical_bootstrap_ci(y_true, y_pred_by_seed, metric: MetricArg = "accuracy", clusters=None,
                              **kwargs) -> ConfidenceInterval:
    """:func:`hierarchical_bootstrap_cis` for one metric."""
    return hierarchical_bootstrap_cis(y_true, y_pred_by_seed, [metric], clusters, **kwargs)[0]


def hierarchical_bootstrap_diff_ci(y_true, pred_a_by_seed, pred_b_by_seed, metric: MetricArg = "accuracy",
                                   clusters=None, *, p_fake_a=None, p_fake_b=None, n_boot: int = 1000,
                                   seed: int = 0, alpha: float = 0.05,
                                   resample_seeds: bool = True) -> ConfidenceInterval:
    """Two-stage bootstrap interval for (seed-mean metric of A) − (seed-mean metric of B).

    Both rows are scored on the same items; every resample applies the same cluster draw to A and B
    (the pairing that makes the difference's interval narrow when both err on the same clusters), and
    draws A's and B's seeds independently (their seeds are separate trainings). The plan is drawn from
    ``default_rng(seed)``: clusters ``(n_boot, G)``, then A's seeds ``(n_boot, S_a)``, then B's
    ``(n_boot, S_b)``. ``n_seeds`` in the result is the smaller of S_a and S_b.
    """
    _check_boot_args(n_boot, alpha)
    _check_metric(metric, p_fake_a is not None and p_fake_b is not None)
    y_true = np.asarray(y_true, dtype=int).ravel()
    n = y_true.size
    if n == 0:
        raise ValueError("cannot bootstrap an empty test split")
    a = _side(y_true, pred_a_by_seed, p_fake_a, "pred_a_by_seed")
    b = _side(y_true, pred_b_by_seed, p_fake_b, "pred_b_by_seed")
    inv, g = cluster_index(clusters, n)
    draws_c, seed_draws = _draw(np.random.default_rng(seed), n_boot, g, [a[0].shape[0], b[0].shape[0]],
                                resample_seeds)
    va, vb = _boot_values(y_true, inv, draws_c, [a, b], [metric], seed_draws)
    low, high = _quantiles(va[0] - vb[0], alpha)
    est = _estimate(y_true, *a, metric) - _estimate(y_true, *b, metric)
    return ConfidenceInterval(est, low, high, 1.0 - alpha, n_boot, n, min(a[0].shape[0], b[0].shape[0]), g)


# ---------------------------------------------------------------------------------------------
# clustered paired test


def mean_correctness(y_true, y_pred_by_seed) -> np.ndarray:
    """Per-item share of seeds that classify the item correctly (no tie-break toward any seed)."""
    y_true = np.asarray(y_true, dtype=int).ravel()
    preds = _as_seed_matrix(y_pred_by_seed, y_true.size)
    return (preds == y_true[None, :]).mean(axis=0)


def cluster_differences(y_true, pred_a, pred_b, clusters=None) -> np.ndarray:
    """D_g = sum over items i of cluster g of (mean correctness of A − of B) on i; clusters in sorted key order.

    With one seed per side, D_g = b_g − c_g of Durkalski et al. (2003): the items of cluster g that A
    gets right and B wrong, minus the reverse.
    """
    y_true = np.asarray(y_true, dtype=int).ravel()
    d = mean_correctness(y_true, pred_a) - mean_correctness(y_true, pred_b)
    inv, g = cluster_index(clusters, y_true.size)
    return np.bincount(inv, weights=d, minlength=g)


@dataclass(frozen=True)
class PairedTestResult:
    """Cluster sign-flip permutation test of row A vs row B on the same test items.

    ``difference``: accuracy of A − accuracy of B (seed means); ``statistic``: Durkalski's clustered
    McNemar chi-square (sum_g D_g)² / sum_g D_g²; ``p_value``: two-sided sign-flip permutation p (exact
    when ``n_perm`` is 0); ``p_chi2``: Durkalski's chi-square(1) approximation, shown for reference
    (too liberal with few clusters); ``n_discordant_clusters``: clusters with D_g != 0.
    """

    difference: float
    statistic: float
    p_value: float
    p_chi2: float
    n_items: int
    n_clusters: int
    n_discordant_clusters: int
    n_perm: int
    method: str


def cluster_paired_test(y_true, pred_a, pred_b, clusters=None, *, n_perm: int = 10000, seed: int = 0,
                        exact_max_clusters: int = EXACT_MAX_CLUSTERS) -> PairedTestResult:
    """Paired test of two rows that respects clusters and seeds: a sign-flip permutation test of sum_g D_g.

    D_g (:func:`cluster_differences`) is cluster g's summed difference in per-item mean correctness over
    seeds. Under H0 (A and B exchangeable within every cluster) each D_g is symmetric about 0 and the
    clusters are independent, so flipping the signs of the D_g gives the null distribution of
    T = sum_g D_g exactly (Fisher 1935's randomisation test applied to clusters). Equivalently, the test
    is the exact (randomisation) version of the clustered McNemar test of Durkalski et al. (2003),
    X² = T² / sum_g D_g², because sum_g D_g² does not change under sign flips; Obuchowski (1998)
    gives the same adjustment for correlated proportions. With one cluster per item and one seed it is
    the exact McNemar test.

    p = P(|T*| >= |T|): all 2^k sign patterns of the k non-zero D_g when k <= ``exact_max_clusters``
    (``n_perm`` reported as 0), else ``n_perm`` random patterns from ``default_rng(seed)``,
    p = (1 + #{|T*| >= |T|}) / (1 + n_perm) (Phipson & Smyth 2010). No discordant cluster: p = 1.
    """
    y_true = np.asarray(y_true, dtype=int).ravel()
    n = y_true.size
    d_g = cluster_differences(y_true, pred_a, pred_b, clusters)
    n_a = _as_seed_matrix(pred_a, n, "pred_a").shape[0]
    n_b = _as_seed_matrix(pred_b, n, "pred_b").shape[0]
    diff = float(d_g.sum() / n) if n else float("nan")
    nz = d_g[np.abs(d_g) > 1e-12]
    k = nz.size
    if k == 0:
        return PairedTestResult(diff, 0.0, 1.0, 1.0, n, d_g.size, 0, 0,
                                "cluster sign-flip permutation: no cluster differs; p = 1")
    t_obs = abs(float(nz.sum()))
    stat = t_obs ** 2 / float(np.sum(nz ** 2))
    p_chi2 = float(_sps.chi2.sf(stat, 1))
    tol = 1e-9 * max(1.0, t_obs)
    if k <= exact_max_clusters:
        patterns = 1 - 2 * ((np.arange(2 ** k)[:, None] >> np.arange(k)[None, :]) & 1)
        p = float(np.mean(np.abs(patterns @ nz) >= t_obs - tol))
        used, how = 0, f"exact over 2^{k} sign patterns"
    else:
        rng = np.random.default_rng(seed)
        hits = 0
        step = max(1, 2_000_000 // k)
        for lo in range(0, n_perm, step):
            r = min(step, n_perm - lo)
            signs = rng.integers(0, 2, size=(r, k)) * 2 - 1
            hits += int(np.sum(np.abs(signs @ nz) >= t_obs - tol))
        p = (1 + hits) / (1 + n_perm)
        used, how = n_perm, f"{n_perm} random sign patterns"
    return PairedTestResult(diff, stat, min(1.0, p), p_chi2, n, d_g.size, k, used,
                            f"cluster sign-flip permutation ({how}; {k} of {d_g.size} clusters differ; "
                            f"seeds {n_a} / {n_b}, per-item mean correctness)")


def paired_difference_se(y_true, pred_a, pred_b, clusters=None) -> float:
    """Cluster-robust standard error of the accuracy difference A − B (per-item mean correctness over seeds).

    SE² = G / (G − 1) · sum_g (D_g − n_g d̄)² / n², with d̄ the mean per-item difference and n_g the
    cluster sizes (the linearised variance behind :func:`cluster_summary`). NaN with one cluster.
    """
    y_true = np.asarray(y_true, dtype=int).ravel()
    n = y_true.size
    d = mean_correctness(y_true, pred_a) - mean_correctness(y_true, pred_b)
    inv, g = cluster_index(clusters, n)
    if g < 2:
        return float("nan")
    resid = np.bincount(inv, weights=d - d.mean(), minlength=g)
    return float(math.sqrt(g / (g - 1) * np.sum(resid ** 2)) / n)


def min_detectable_difference(se: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """(z_{1−α/2} + z_power) · se: the smallest true difference a two-sided level-α test detects with ``power``.

    E.g. α = 0.05, power 0.8: (1.95996 + 0.84162) · se = 2.80158 · se (normal approximation).
    """
    return float((_sps.norm.ppf(1 - alpha / 2) + _sps.norm.ppf(power)) * se)


# ---------------------------------------------------------------------------------------------
# item-level McNemar (only where a paper used it)


def majority_vote(y_pred_by_seed) -> np.ndarray:
    """Per-item majority over seeds; a tie (even number of seeds) gives -1 ("undecided"), never a seed's vote."""
    preds = np.asarray(y_pred_by_seed, dtype=int)
    if preds.ndim == 1:
        return preds.copy()
    if preds.ndim != 2 or preds.shape[0] == 0:
        raise ValueError(f"y_pred_by_seed must be (n_seeds, n_items); got {preds.shape}")
    fake_votes = preds.sum(axis=0) * 2
    s = preds.shape[0]
    out = np.where(fake_votes > s, 1, 0)
    out[fake_votes == s] = -1
    return out


def combine_seeds(y_pred_by_seed, how: Literal["majority", "first"] = "majority") -> np.ndarray:
    """One prediction per item from several seeds: ``majority`` vote (ties -1) or the ``first`` seed."""
    preds = np.asarray(y_pred_by_seed, dtype=int)
    if how == "majority":
        return majority_vote(preds)
    if how == "first":
        return preds.copy() if preds.ndim == 1 else preds[0].copy()
    raise ValueError(f"combine must be 'majority' or 'first', got {how!r}")


@dataclass(frozen=True)
class McNemarResult:
    """Item-level McNemar test between two classifiers on the same items (treats items as independent).

    b: items A classifies correctly and B wrongly; c: A wrongly and B correctly. ``n_excluded``: items
    left out because a side's seeds tie (majority vote undecided). ``method`` names the form used.
    """

    b: int
    c: int
    statistic: float
    p_value: float
    method: str
    n_excluded: int = 0


def mcnemar_test(y_true, pred_a, pred_b, combine: Literal["majority", "first"] = "majority") -> McNemarResult:
    """Item-level McNemar: exact binomial if b + c < 25, else chi-square with continuity correction.

    Kept for NovEmoFake Table 7, where the paper used it; it assumes independent items, which clustered
    test sets violate (see :func:`cluster_paired_test`). Several seeds are combined per item by
    ``combine``: the majority vote leaves out items on which a side's seeds tie (``n_excluded``).
    No discordant item: p = 1.0, statistic 0. Exact test statistic: min(b, c) (statsmodels'
    convention); chi-square: (|b − c| − 1)² / (b + c).
    """
    y_true = np.asarray(y_true, dtype=int).ravel()
    n = y_true.size
    a = combine_seeds(_as_seed_matrix(pred_a, n, "pred_a"), combine)
    bp = combine_seeds(_as_seed_matrix(pred_b, n, "pred_b"), combine)
    keep = (a >= 0) & (bp >= 0)
    excluded = int(np.sum(~keep))
    a_ok = (a == y_true)[keep]
    b_ok = (bp == y_true)[keep]
    b = int(np.sum(a_ok & ~b_ok))
    c = int(np.sum(~a_ok & b_ok))
    note = f"; {excluded} item(s) with tied seed votes left out" if excluded else ""
    if b + c == 0:
        return McNemarResult(0, 0, 0.0, 1.0, "no discordant pairs (the two models agree on every item's "
                                             "correctness); p = 1" + note, excluded)
    table = [[int(np.sum(a_ok & b_ok)), b], [c, int(np.sum(~a_ok & ~b_ok))]]
    if b + c < EXACT_BELOW:
        res = _sm_mcnemar(table, exact=True)
        method = f"exact binomial (b + c = {b + c} < {EXACT_BELOW}{note})"
    else:
        res = _sm_mcnemar(table, exact=False, correction=True)
        method = f"chi-square with continuity correction (b + c = {b + c} >= {EXACT_BELOW}{note})"
    return McNemarResult(b, c, float(res.statistic), float(min(1.0, res.pvalue)), method, excluded)


# ---------------------------------------------------------------------------------------------
# multiple comparisons, verdicts


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (statsmodels ``multipletests(method='holm')``).

    NaN entries (comparisons that could not be made) stay NaN and do not count toward the family.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def significance_mark(p: float | None) -> str:
    """``**`` for p < 0.01, ``*`` for p < 0.05, else empty (NaN/None gives empty)."""
    if p is None or np.isnan(p):
        return ""
    if p < 0.01:
        return "**"
    if p < 0.05:
        return "*"
    return ""


def reference_verdict(paper_value: float, ci_low: float, ci_high: float,
                      max_half_width: float = MAX_HALF_WIDTH) -> str:
    """Whether the paper's value lies inside the reproduced interval — when the interval can tell.

    If the interval's half-width (ci_high − ci_low) / 2 exceeds ``max_half_width`` (default 0.05 in
    metric units; pass 5.0 for percentage points) the verdict is "inconclusive (±half-width)", whatever
    the paper's value. Otherwise "reproduced": ci_low <= paper <= ci_high; "below": the interval lies
    below the paper's value (ci_high < paper); "above": it lies above (ci_low > paper).
    """
    vals = np.asarray([paper_value, ci_low, ci_high], dtype=float)
    if np.isnan(vals).any():
        raise ValueError(f"reference_verdict needs numbers; got paper={paper_value}, CI=[{ci_low}, {ci_high}]")
    if ci_low > ci_high:
        raise ValueError(f"interval is reversed: [{ci_low}, {ci_high}]")
    half = (ci_high - ci_low) / 2.0
    if half > max_half_width + 1e-12:
        digits = 3 if max_half_width < 1 else 2
        return f"inconclusive (±{half:.{digits}f})"
    if ci_high < paper_value:
        return "below"
    if ci_low > paper_value:
        return "above"
    return "reproduced"
