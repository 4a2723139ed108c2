"""Statistics behind every reproduced cell: two named estimands, clustered variances, verdicts, Holm.

Why these and why here: a table cell must say more than one number, and the number it adds must not
overstate what the test set can tell. Test items are not independent: tweets that share an image
(MediaEval 2016: 698 test tweets, 44 images, the largest 17.6%) nearly always get the same prediction,
and a training seed can make a model better or worse on every image at once (seed-to-seed std of
accuracy 0.10-0.15 observed). Two questions are therefore kept apart and named in every table:

* **(a) on this fixed test set, across training seeds** (:data:`ESTIMAND_SEEDS`): the per-seed
  metrics are the data; a t interval over seeds (:func:`seed_interval`), Welch's t between rows
  (:func:`seed_difference`);
* **(b) generalising over test clusters and seeds** (:data:`ESTIMAND_CROSSED`): clusters and seeds
  are crossed random factors; the variance adds a CR2 cluster-robust part and the seed-wide part
  without counting their interaction twice (:func:`crossed_variance`), tested with t on
  Bell-McCaffrey degrees of freedom (or the seeds' when the
  seed-wide part is present). Any metric enters through per-item pseudo-values
  (:func:`pseudo_values`).

Each count metric has a second, cluster-weighted form (``accuracy@cluster``; the list is
:data:`benchmark.metrics.CLUSTER_WEIGHTED`): every item weighted by 1 / (its cluster's size), so every
cluster counts once. Both estimands treat it the same way with the clusters as units of equal weight:
its cluster-level pseudo-values (weighted means of the item pseudo-values) enter :func:`crossed_variance`
with sizes all 1, so the CR2 factor and the Bell-McCaffrey df (G − 1) are those of equal clusters.

A verdict against a paper's single run uses the single-run prediction interval and an equivalence test
(:func:`paper_verdict`); a stated difference is "reproduced" only when an interval excludes 0 on its side
(:func:`claim_verdict`); minimum detectable differences use the test's own SE, df and Holm's first step
(:func:`min_detectable_difference`). The cluster sign-flip test (:func:`cluster_paired_test`) and the
item-level McNemar test (:func:`mcnemar_test`, NovEmoFake Table 7 only) are kept for what they are.

Everything here is a pure function over arrays, with no I/O, so it can be checked against hand
computations; tests/reports/test_stats_calibration.py checks level and coverage on simulated tables.

Conventions
-----------
* Labels: 1 = fake (the positive class), 0 = real, as in :mod:`benchmark.metrics`.
* ``y_pred_by_seed`` is an integer array of shape ``(n_seeds, n_items)``; a 1-D array is one seed.
  Every seed must have been scored on the same items in the same order (the caller aligns by
  ``item_id``). Predictions pooled out of fold (one per item and seed) are such a matrix too.
  ``p_fake_by_seed`` (same shape, probabilities of "fake") is needed only for ROC-AUC.
* ``clusters`` is one key per item (any hashable, compared as strings); ``None`` means every item is
  its own cluster (the independence assumption, stated explicitly by the caller).

References
----------
* Bell, R. M. & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression with
  multi-stage samples. *Survey Methodology* 28(2), 169-181 (CR2 and its degrees of freedom).
* Cameron, A. C., Gelbach, J. B. & Miller, D. L. (2008). Bootstrap-based improvements for inference
  with clustered errors. *REStat* 90(3), 414-427; MacKinnon, J. G. & Webb, M. D. (2017). Wild
  bootstrap inference for wildly different cluster sizes. *J. Appl. Econometrics* 32(2), 233-254
  (why plain cluster-robust tests over-reject with few, unequal clusters).
* Imbens, G. W. & Kolesár, M. (2016). Robust standard errors in small samples: some practical advice.
  *REStat* 98(4), 701-712; Pustejovsky, J. E. & Tipton, E. (2018). Small-sample methods for
  cluster-robust variance estimation. *JBES* 36(4), 672-683.
* Schuirmann, D. J. (1987). A comparison of the two one-sided tests procedure and the power approach
  for assessing the equivalence of average bioavailability. *J. Pharmacokin. Biopharm.* 15, 657-680.
* DeLong, E. R., DeLong, D. M. & Clarke-Pearson, D. L. (1988). Comparing the areas under two or more
  correlated ROC curves. *Biometrics* 44(3), 837-845 (placement values).
* Durkalski, V. L. et al. (2003). Analysis of clustered matched-pair data. *Stat Med* 22, 2417-2428;
  Fisher, R. A. (1935), *The Design of Experiments* §21; Phipson, B. & Smyth, G. K. (2010). *SAGMB* 9(1).
* Kish, L. (1965). *Survey Sampling* (design effect, effective sample size).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as _sps
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar
from statsmodels.stats.multitest import multipletests

from benchmark.metrics import CLUSTER_METRIC_NAMES, METRIC_NAMES, cluster_weights, split_metric

__all__ = [
    "METRICS", "COUNT_METRICS", "ClusterSummary", "McNemarResult", "PairedTestResult", "Interval",
    "CrossedVariance", "Comparison", "PaperVerdict", "EXACT_BELOW", "MIN_SEEDS", "EXACT_MAX_CLUSTERS",
    "DEFAULT_MARGIN_POINTS", "ESTIMAND_SEEDS", "ESTIMAND_CROSSED", "ESTIMAND_CLUSTERS",
    "aggregate_over_seeds", "metric_from_predictions", "cluster_index", "cluster_summary", "pseudo_values",
    "cluster_sums", "t_interval", "seed_interval", "seed_difference", "bell_mccaffrey_df", "crossed_variance",
    "crossed_interval", "row_intervals", "compare_rows", "mean_correctness", "cluster_differences",
    "cluster_paired_test", "min_detectable_difference", "min_differing_clusters", "majority_vote",
    "combine_seeds", "mcnemar_test", "holm", "significance_mark", "paper_verdict", "claim_verdict",
]

#: McNemar uses the exact binomial test when the discordant count b + c is below this.
EXACT_BELOW = 25
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
# metrics from confusion counts


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


#: metrics computed from confusion counts (benchmark.metrics.METRIC_NAMES, same definitions, but ROC-AUC)
COUNT_METRICS = tuple(m for m in METRIC_NAMES if m != "roc_auc")
#: every metric the statistics here handle; roc_auc needs p_fake, the "@cluster" forms need clusters
METRICS = (*COUNT_METRICS, "roc_auc", *CLUSTER_METRIC_NAMES)

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
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {list(METRICS)}")
    if metric == "roc_auc" and not has_scores:
        raise ValueError("roc_auc needs p_fake (the predicted probability of 'fake') for every seed")


def _item_weights(metric: str, clusters, n_items: int) -> tuple[str, np.ndarray]:
    """(base metric, item weights): all 1 for an item-weighted metric, 1 / cluster size for "@cluster"
    (``clusters`` None: every item its own cluster, so both forms agree)."""
    base, by_cluster = split_metric(metric)
    if not by_cluster or clusters is None:
        return base, np.ones(n_items)
    if np.asarray(clusters).size != n_items:
        raise ValueError(f"clusters must give one key per item ({n_items}); got {np.asarray(clusters).size}")
    return base, cluster_weights(clusters)


def _weighted_metric_by_seed(metric: str, y_true: np.ndarray, preds: np.ndarray, scores: np.ndarray | None,
                             weights: np.ndarray) -> np.ndarray:
    """Metric value for every (resample, seed): item ``weights`` (R, n) -> array (R, S) (a base metric name)."""
    if metric == "roc_auc":
        return np.stack([_weighted_auc(y_true, sc, weights) for sc in scores], axis=1)
    yt = (y_true == 1)[None, :]
    yp = preds == 1
    counts = [weights @ m.T.astype(float) for m in (yt & yp, ~yt & yp, yt & ~yp, ~yt & ~yp)]
    return _counts_metric(metric, *counts)


def metric_from_predictions(y_true, y_pred, metric: MetricArg, p_fake=None, clusters=None) -> float:
    """One metric for one prediction vector (fake = 1); ``p_fake`` is needed for roc_auc, ``clusters``
    (one key per item) for the "@cluster" forms."""
    y_true = np.asarray(y_true, dtype=int).ravel()
    _check_metric(metric, p_fake is not None)
    preds = _as_seed_matrix(y_pred, y_true.size)
    scores = None if p_fake is None else _as_seed_matrix(p_fake, y_true.size, "p_fake", float)
    base, w = _item_weights(metric, clusters, y_true.size)
    return float(_weighted_metric_by_seed(base, y_true, preds, scores, w[None, :])[0, 0])


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
# pseudo-values: every metric as a mean over items


def _count_pseudo(metric: str, y_true: np.ndarray, preds: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """psi_si = m_s + W·dm_s/dcount_{cell(i)} with counts weighted by ``weights`` (W their sum; default 1 each):
    the ``weights``-weighted mean of psi is the metric exactly (the metric does not change when every count
    is scaled, so Σ_k count_k·dm/dcount_k = 0)."""
    yt = (y_true == 1)[None, :]
    yp = preds == 1
    w = np.ones(y_true.size) if weights is None else np.asarray(weights, dtype=float)
    cells = np.stack([yt & yp, ~yt & yp, yt & ~yp, ~yt & ~yp])  # (4, S, n): tp, fp, fn, tn
    counts = (cells * w).sum(axis=2).astype(float).T  # (S, 4)
    base = _counts_metric(metric, *counts.T)
    step = 1e-4
    grads = np.empty_like(counts)
    for k in range(4):
        e = np.zeros(4)
        e[k] = step
        grads[:, k] = (_counts_metric(metric, *(counts + e).T) - _counts_metric(metric, *(counts - e).T)) / (2 * step)
    kind = np.argmax(cells, axis=0)  # (S, n): the confusion cell of each item
    return base[:, None] + float(w.sum()) * np.take_along_axis(grads, kind, axis=1)


def _auc_pseudo(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    pos = y_true == 1
    n, n1 = y_true.size, int(pos.sum())
    n0 = n - n1
    if n1 == 0 or n0 == 0:
        raise ValueError("roc_auc needs both classes among the test items")
    out = np.empty(scores.shape)
    for s, sc in enumerate(scores):
        real, fake = np.sort(sc[~pos]), np.sort(sc[pos])
        lo, hi = np.searchsorted(real, sc, "left"), np.searchsorted(real, sc, "right")
        v_fake = (lo + 0.5 * (hi - lo)) / n0  # share of real items scored below (ties one half)
        lo, hi = np.searchsorted(fake, sc, "left"), np.searchsorted(fake, sc, "right")
        v_real = (n1 - hi + 0.5 * (hi - lo)) / n1  # share of fake items scored above
        auc = float(v_fake[pos].mean())
        out[s] = np.where(pos, auc + n / n1 * (v_fake - auc), auc + n / n0 * (v_real - auc))
    return out


def pseudo_values(y_true, y_pred_by_seed, metric: MetricArg = "accuracy", p_fake_by_seed=None,
                  clusters=None) -> np.ndarray:
    """Per-seed, per-item pseudo-values (S, n) whose mean over items is that seed's metric (for an
    "@cluster" metric: whose mean with item weights 1 / cluster size, i.e. the mean over clusters of the
    clusters' means, is that seed's metric).

    Why: the cluster-robust variance below needs the metric as a sum over items. psi_si = m_s + n·dm_s/dw_i,
    the metric plus the item's influence (derivative with respect to the item's weight; Efron & Tibshirani
    1993 ch. 21, the linearisation behind the delta method). For a metric of confusion counts it is the
    derivative with respect to the count of the item's cell (tp, fp, fn or tn), taken numerically; these
    metrics do not change when every count is scaled, so the influences sum to zero and the mean of psi is
    the metric exactly. Accuracy: psi = the item's correctness. ROC-AUC: DeLong's placement values (DeLong,
    DeLong & Clarke-Pearson 1988), psi = AUC + n/n_fake·(V_i − AUC) for a fake item whose share of real
    items scored lower (ties one half) is V_i, and the mirror image for a real item.
    """
    y_true = np.asarray(y_true, dtype=int).ravel()
    _check_metric(metric, p_fake_by_seed is not None)
    preds = _as_seed_matrix(y_pred_by_seed, y_true.size)
    if metric == "roc_auc":
        return _auc_pseudo(y_true, _as_seed_matrix(p_fake_by_seed, y_true.size, "p_fake_by_seed", float))
    base, w = _item_weights(metric, clusters, y_true.size)
    return _count_pseudo(base, y_true, preds, w)


def cluster_sums(values, clusters) -> tuple[np.ndarray, np.ndarray]:
    """(per-seed cluster sums (S, G) of per-item ``values`` (S, n), cluster sizes (G,)); clusters in sorted key order."""
    v = np.asarray(values, dtype=float)
    v = v[None, :] if v.ndim == 1 else v
    inv, g = cluster_index(clusters, v.shape[1])
    sums = np.stack([np.bincount(inv, weights=row, minlength=g) for row in v])
    return sums, np.bincount(inv, minlength=g).astype(float)


# ---------------------------------------------------------------------------------------------
# the two estimands

#: (a): the question "how does this model do on this test set, across training seeds?"
ESTIMAND_SEEDS = "on this fixed test set, across training seeds"
#: (b): "... on test sets like this one (other images / events / publishers), across training seeds?"
ESTIMAND_CROSSED = "generalising over test clusters and training seeds"
#: what (b) reduces to when a row has one seed: the seed lottery cannot be estimated
ESTIMAND_CLUSTERS = "generalising over test clusters, for these trained models only (one seed)"


@dataclass(frozen=True)
class Interval:
    """An estimate for one named estimand: standard error, t degrees of freedom, interval, p of "true value 0"."""

    estimand: str
    estimate: float
    se: float
    df: float
    low: float
    high: float
    p_value: float  # two-sided; meaningful for differences
    level: float
    n_seeds: tuple[int, ...]  # per row
    n_clusters: int
    method: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0


def t_interval(estimate, se, df, alpha: float = 0.05):
    """(low, high, two-sided p of 0) of estimate ± t_{1−α/2, df}·se, elementwise. se 0: p 1 if the estimate is 0, else 0."""
    estimate, se, df = (np.asarray(x, dtype=float) for x in (estimate, se, df))
    q = _sps.t.ppf(1 - alpha / 2, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(estimate) / se
        p = np.where(se > 0, 2 * _sps.t.sf(t, df), np.where(estimate == 0, 1.0, 0.0))
    return estimate - q * se, estimate + q * se, np.where(np.isnan(se), np.nan, p)


def _interval(estimand, estimate, se, df, alpha, seeds, g, method) -> Interval:
    low, high, p = t_interval(estimate, se, df, alpha)
    return Interval(estimand, float(estimate), float(se), float(df), float(low), float(high), float(p), 1 - alpha,
                    tuple(int(s) for s in seeds), int(g), method)


def _seed_array(values, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0 or np.isnan(arr).any():
        raise ValueError(f"{what}: need one finite metric value per seed, got {arr.tolist()}")
    return arr


def seed_interval(values, alpha: float = 0.05, n_clusters: int = 0) -> Interval | None:
    """Estimand (a) for one row: mean of the per-seed metrics ± t_{S−1}·s/√S. None with one seed."""
    x = _seed_array(values, "seed_interval")
    if x.size < 2:
        return None
    se = float(x.std(ddof=1) / math.sqrt(x.size))
    return _interval(ESTIMAND_SEEDS, x.mean(), se, x.size - 1, alpha, (x.size,), n_clusters,
                     f"t interval over {x.size} seeds")


def seed_difference(values_a, values_b, alpha: float = 0.05, n_clusters: int = 0) -> Interval | None:
    """Estimand (a) for A − B: Welch's t on the per-seed metrics (the rows' seeds are separate trainings).

    SE² = s_A²/S_A + s_B²/S_B with Welch-Satterthwaite df; None when a row has one seed. Welch rather than
    a permutation over seed labels: with 5 + 5 seeds the permutation p cannot go below 2/252 and its
    interval is not defined; Welch's is, and it stayed at level in the calibration designs.
    """
    a, b = _seed_array(values_a, "seed_difference A"), _seed_array(values_b, "seed_difference B")
    if a.size < 2 or b.size < 2:
        return None
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1)) if se > 0 else a.size + b.size - 2
    return _interval(ESTIMAND_SEEDS, a.mean() - b.mean(), se, df, alpha, (a.size, b.size), n_clusters,
                     f"Welch t over seeds ({a.size} / {b.size})")


@functools.lru_cache(maxsize=64)
def _bm_df(sizes: tuple[float, ...]) -> float:
    n_g = np.asarray(sizes)
    w = n_g / n_g.sum()
    q = (np.sqrt(_cr2_factor(w)) * w)[:, None] * (np.eye(w.size) - w[None, :]) / np.sqrt(n_g)[None, :]
    a = q.T @ q
    return float(np.trace(a) ** 2 / np.sum(a * a))


def _cr2_factor(w: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 - 2.0 * w + float(w @ w))


def bell_mccaffrey_df(sizes) -> float:
    """Bell & McCaffrey (2002) degrees of freedom of the CR2 variance of a weighted mean of cluster means.

    The CR2 variance (see :func:`crossed_variance`) is a quadratic form ε'Aε in the errors; under the
    working model of independent, equal-variance items its Satterthwaite df is (tr A)² / tr(A²)
    (Imbens & Kolesár 2016). Equal sizes give G − 1; the MediaEval 2016 test sizes (44 images, the
    largest 17.6%) give 13.3. The working model of equal-variance cluster means would give 3.4 there,
    and intervals that covered 99% instead of 95% in the calibration designs, so it is not used for df.
    """
    sizes = np.asarray(sizes, dtype=float).ravel()
    if sizes.size < 2:
        return float("nan")
    return _bm_df(tuple(sizes.tolist()))


@dataclass(frozen=True)
class CrossedVariance:
    """Parts of the variance of a contrast of seed-averaged metrics under crossed clusters x seeds (arrays)."""

    estimate: np.ndarray
    v_cluster: np.ndarray  # CR2 variance over clusters of the seed-averaged contrast
    df_cluster: float  # Bell-McCaffrey
    v_seed: np.ndarray  # seed-wide part; NaN when a row has one seed
    df: np.ndarray  # Σ (S_r − 1) where v_seed > 0, else df_cluster

    @property
    def variance(self) -> np.ndarray:
        return self.v_cluster + np.nan_to_num(self.v_seed)


def crossed_variance(sums_by_row: Sequence[np.ndarray], sizes, coefs: Sequence[float] | None = None
                     ) -> CrossedVariance:
    """Variance of θ = Σ_r c_r·(seed mean of row r's metric) when test clusters and training seeds are both random.

    ``sums_by_row[r]`` holds per-(seed, cluster) sums of pseudo-values, shape (..., S_r, G) (leading axes
    are batch axes, e.g. simulated tables); ``sizes`` the G cluster sizes; ``coefs`` c_r (default 1 each;
    (1, −1) for a difference). With w_g = n_g/n, H = Σ w_g², and m_rsg the cluster means:

    * cluster part (covers cluster effects and the seed x cluster interaction averaged over seeds):
      U_g = Σ_r c_r·mean_s m_rsg, θ = Σ_g w_g U_g, V_CR2 = Σ_g w_g² (U_g − θ)² / (1 − 2w_g + H): each
      residual scaled as in CR2 (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018) so that the sum is
      unbiased when cluster means have equal variance (tweets of one image share their prediction:
      Var(U_g − θ) = σ²(1 − 2w_g + H)), with Bell-McCaffrey degrees of freedom df_BM
      (:func:`bell_mccaffrey_df`);
    * seed part (the seed-wide effect, which cancels out of every residual above): per row, the
      between-seed variance of the row's metric s_r² minus its per-cluster part Σ_g w_g² s_rg² (s_rg² the
      between-seed variance of cluster g's mean) estimates σ²_seed·(1 − H), so
      V_seed = Σ_r c_r² max(0, (s_r² − Σ_g w_g² s_rg²) / (1 − H)) / S_r. Subtracting the per-cluster part
      is what keeps the interaction from being counted twice (once in V_CR2, once in s_r²);
    * total V = V_CR2 + V_seed, tested with t on Σ_r (S_r − 1) df when V_seed > 0 (the issue's
      suggestion; a Satterthwaite df from the estimated parts gave 85-92% coverage with 2 seeds, since
      a seed part estimated small by chance also raises the df), else on df_BM.

    Cameron, Gelbach & Miller (2008) and MacKinnon & Webb (2017) show plain cluster-robust t-tests
    over-reject with few or very unequal clusters; CR2 with Bell-McCaffrey df is the small-sample
    correction chosen here (Imbens & Kolesár 2016; Pustejovsky & Tipton 2018), and
    tests/reports/test_stats_calibration.py checks its level and coverage on the real cluster sizes.
    """
    sizes = np.asarray(sizes, dtype=float).ravel()
    g = sizes.size
    if g < 2:
        raise ValueError(f"crossed_variance needs at least 2 clusters, got {g}")
    if (sizes <= 0).any():
        raise ValueError("cluster sizes must be positive")
    coefs = tuple(coefs) if coefs is not None else (1.0,) * len(sums_by_row)
    if len(coefs) != len(sums_by_row) or not sums_by_row:
        raise ValueError(f"need one coefficient per row: {len(coefs)} for {len(sums_by_row)} rows")
    w = sizes / sizes.sum()
    h = float(w @ w)
    u = 0.0
    seed_parts, seed_dfs = [], []
    for c, sums in zip(coefs, sums_by_row):
        sums = np.asarray(sums, dtype=float)
        if sums.ndim < 2 or sums.shape[-1] != g:
            raise ValueError(f"cluster sums must have shape (..., n_seeds, {g}); got {sums.shape}")
        m = sums / sizes
        n_seeds = sums.shape[-2]
        u = u + c * m.mean(axis=-2)
        if n_seeds >= 2:
            s2 = (m @ w).var(axis=-1, ddof=1)
            s2_int = m.var(axis=-2, ddof=1) @ (w ** 2)
            seed_parts.append(c ** 2 * np.maximum(0.0, (s2 - s2_int) / (1.0 - h)) / n_seeds)
            seed_dfs.append(n_seeds - 1)
        else:
            seed_parts.append(None)
    est = u @ w
    v_cl = np.sum(_cr2_factor(w) * w ** 2 * (u - est[..., None]) ** 2, axis=-1)
    df_cl = bell_mccaffrey_df(sizes)
    if any(p is None for p in seed_parts):
        return CrossedVariance(est, v_cl, df_cl, np.full(np.shape(est), np.nan), np.full(np.shape(est), df_cl))
    v_seed = sum(seed_parts)
    df = np.where(v_seed > 0, float(sum(seed_dfs)), df_cl)
    return CrossedVariance(est, v_cl, df_cl, v_seed, df)


def crossed_interval(sums_by_row: Sequence[np.ndarray], sizes, coefs: Sequence[float] | None = None,
                     alpha: float = 0.05) -> Interval:
    """Estimand (b) as an :class:`Interval` for one table cell (see :func:`crossed_variance`); with a single
    seed on any row the seed part cannot be estimated and the interval is for the trained models only."""
    cv = crossed_variance(sums_by_row, sizes, coefs)
    seeds = tuple(np.shape(s)[-2] for s in sums_by_row)
    one = bool(np.isnan(cv.v_seed))
    est = ESTIMAND_CLUSTERS if one else ESTIMAND_CROSSED
    how = (f"CR2 over {len(sizes)} clusters, Bell-McCaffrey df {cv.df_cluster:.1f}" if one else
           f"CR2 over {len(sizes)} clusters + seed-wide part, t on {float(cv.df):.1f} df")
    return _interval(est, cv.estimate, math.sqrt(float(cv.variance)), cv.df, alpha, seeds, len(sizes), how)


def _cell_sums(y_true, preds, clusters, metric, p_fake):
    """Per-(seed, unit) pseudo-value sums and unit sizes for :func:`crossed_variance`: the clusters with
    their item counts, or for an "@cluster" metric the clusters' weighted means with sizes 1 (equal weights)."""
    sums, sizes = cluster_sums(pseudo_values(y_true, preds, metric, p_fake, clusters), clusters)
    if split_metric(metric)[1]:
        return sums / sizes, np.ones_like(sizes)
    return sums, sizes


def row_intervals(y_true, y_pred_by_seed, metric: MetricArg = "accuracy", clusters=None, *, p_fake_by_seed=None,
                  seed_values=None, alpha: float = 0.05) -> tuple[Interval | None, Interval]:
    """Both estimands for one row: ((a) over seeds or None with one seed, (b) over clusters and seeds).

    ``seed_values``: the per-seed metrics as stored (default: recomputed from the predictions).
    Predictions pooled out of fold (one per item and seed, from whichever fold model held the item out)
    enter exactly like those of a single model.
    """
    y_true = np.asarray(y_true, dtype=int).ravel()
    sums, sizes = _cell_sums(y_true, y_pred_by_seed, clusters, metric, p_fake_by_seed)
    if seed_values is None:
        seed_values = sums.sum(axis=1) / sizes.sum()
    return seed_interval(seed_values, alpha, sizes.size), crossed_interval([sums], sizes, alpha=alpha)


@dataclass(frozen=True)
class Comparison:
    """Row A − row B on the same test items, for both estimands."""

    difference: float  # seed mean of A − seed mean of B
    seeds: Interval | None  # (a): Welch over seeds; None when a row has one seed
    crossed: Interval  # (b), or clusters only when a row has one seed
    n_clusters: int
    n_discordant_clusters: int  # clusters on which the rows' seed-averaged correctness differs
    sizes: np.ndarray  # cluster sizes


def compare_rows(y_true, pred_a, pred_b, metric: MetricArg = "accuracy", clusters=None, *, p_fake_a=None,
                 p_fake_b=None, values_a=None, values_b=None, alpha: float = 0.05) -> Comparison:
    """A − B for both estimands: (a) Welch over seeds, (b) :func:`crossed_variance` with coefficients (1, −1)."""
    y_true = np.asarray(y_true, dtype=int).ravel()
    sa, sizes = _cell_sums(y_true, pred_a, clusters, metric, p_fake_a)
    sb, _ = _cell_sums(y_true, pred_b, clusters, metric, p_fake_b)
    va = sa.sum(axis=1) / sizes.sum() if values_a is None else values_a
    vb = sb.sum(axis=1) / sizes.sum() if values_b is None else values_b
    crossed = crossed_interval([sa, sb], sizes, (1.0, -1.0), alpha)
    d_g = cluster_differences(y_true, pred_a, pred_b, clusters)
    diff = float(np.mean(va) - np.mean(vb))
    return Comparison(diff, seed_difference(va, vb, alpha, sizes.size), crossed, sizes.size,
                      int(np.sum(np.abs(d_g) > 1e-12)), sizes)


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
    """Cluster sign-flip permutation test of row A vs row B on the same test items (for fixed trained models).

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
    """Paired test of two fixed sets of trained models over clusters: a sign-flip permutation test of sum_g D_g.

    Valid for the models as trained; it does not estimate the seed lottery: when a seed makes a model
    better or worse on every cluster at once (seed-wide effect), it over-rejects the question "do the
    rows differ across seeds" (19-28% false positives at α = 0.05 in the calibration designs with seed
    std 0.11-0.14). The tables use :func:`compare_rows` instead; this stays for its exact hand values.

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


def min_detectable_difference(se: float, alpha: float = 0.05, power: float = 0.8, df: float = math.inf,
                              n_comparisons: int = 1) -> float:
    """(t_{1−α/(2m), df} + t_{power, df})·se: the smallest true difference that a two-sided test at the first
    Holm step (α/m for m comparisons) detects with ``power``, from the same standard error and df as the test.

    E.g. α = 0.05, power 0.8, df = ∞: 2.80·se for one comparison, 3.65·se for 10.
    """
    if n_comparisons < 1:
        raise ValueError(f"n_comparisons must be >= 1, got {n_comparisons}")
    a = alpha / n_comparisons
    return float((_sps.t.ppf(1 - a / 2, df) + _sps.t.ppf(power, df)) * se)


def min_differing_clusters(sizes, alpha: float = 0.05, n_comparisons: int = 1) -> int | None:
    """About how many clusters must differ before a comparison can reach Holm significance (α/m).

    Best case for the clustered test: each differing cluster flips completely (every item, every seed) in
    the same direction, no seed-wide noise. Clusters are added greedily (each step the one that raises t
    most) until the CR2 t-test with Bell-McCaffrey df reaches p <= α/m; None if it never does.
    """
    sizes = np.asarray(sizes, dtype=float).ravel()
    if sizes.size < 2:
        return None
    w = sizes / sizes.sum()
    f = _cr2_factor(w) * w ** 2
    df = bell_mccaffrey_df(sizes)
    crit = _sps.t.ppf(1 - alpha / n_comparisons / 2, df)
    chosen = np.zeros(sizes.size, dtype=bool)
    for k in range(1, sizes.size):
        cand = np.flatnonzero(~chosen)
        masks = np.repeat(chosen[None, :], cand.size, axis=0).astype(float)
        masks[np.arange(cand.size), cand] = 1.0
        theta = masks @ w
        var = np.sum(f * (masks - theta[:, None]) ** 2, axis=1)
        t = theta / np.sqrt(var)
        best = int(np.argmax(t))
        chosen[cand[best]] = True
        if t[best] >= crit:
            return k
    return None


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


#: equivalence margin of "matches" when a suite file does not set ``equivalence_margin`` (percentage points)
DEFAULT_MARGIN_POINTS = 2.0


@dataclass(frozen=True)
class PaperVerdict:
    """Our seeds vs the paper's single reported run, on the same test set."""

    verdict: str  # "matches (TOST, ±margin)", "below", "above", "inconclusive (±x)", or why none
    pi_low: float  # (1 − α) prediction interval of one more run, clipped to [0, 1]
    pi_high: float
    p_tost: float  # the larger one-sided p of the two one-sided tests
    margin: float
    n_seeds: int


def paper_verdict(seed_values, paper_value: float, margin: float, alpha: float = 0.05) -> PaperVerdict:
    """Compare the paper's one run with the distribution of our single runs (same test set, estimand (a)).

    The paper reports one run (often its best), so its number is compared with where one run of ours
    would fall: the prediction interval mean ± t_{1−α/2, S−1}·s·√(1 + 1/S) (the paper's run and our mean
    differ by one run's spread plus our mean's). Rules, in order:

    * "matches (TOST, ±margin)": both one-sided tests of |E[our run] − paper| >= margin reject at α
      (Schuirmann 1987), i.e. the (1 − 2α) interval of paper − mean, with that same SE, lies inside ±margin;
    * "below" / "above": the prediction interval lies wholly below / above the paper's value;
    * otherwise "inconclusive (±x)", x the prediction interval's half-width.

    With one seed there is no spread to compare with: "no verdict (one seed)". ``margin`` is in the
    metric's units (0.02 for 2 points).
    """
    x = _seed_array(seed_values, "paper_verdict")
    if not np.isfinite(paper_value):
        raise ValueError(f"paper_verdict needs the paper's value as a number, got {paper_value}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    s_n = x.size
    if s_n < 2:
        return PaperVerdict("no verdict (one seed)", math.nan, math.nan, math.nan, margin, s_n)
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    se = sd * math.sqrt(1 + 1 / s_n)
    df = s_n - 1
    half = float(_sps.t.ppf(1 - alpha / 2, df) * se)
    lo, hi = max(0.0, mean - half), min(1.0, mean + half)  # a metric lies in [0, 1]
    d = mean - paper_value
    if se > 0:
        p_tost = float(max(_sps.t.sf((d + margin) / se, df), _sps.t.cdf((d - margin) / se, df)))
    else:
        p_tost = 0.0 if abs(d) < margin else 1.0
    if p_tost < alpha:
        verdict = f"matches (TOST, ±{margin:g})"
    elif hi < paper_value:
        verdict = "below"
    elif lo > paper_value:
        verdict = "above"
    else:
        verdict = f"inconclusive (±{half:.3f})"
    return PaperVerdict(verdict, lo, hi, p_tost, margin, s_n)


def claim_verdict(stated: float, crossed: Interval, seeds: Interval | None = None) -> str:
    """Whether a difference the paper states is reproduced: only when an interval excludes 0 on its side.

    ``stated`` is in the intervals' units. "reproduced" when the interval generalising over clusters and
    seeds (``crossed``) excludes 0 on the stated side; "reproduced on this test set only" when only the
    over-seeds interval does ("... for these trained models only" when ``crossed`` covers one seed);
    "opposite" when an interval excludes 0 on the other side; else "not shown (interval includes 0)".
    A reproduced sign whose interval also excludes the stated size says so ("smaller/larger than stated").
    """
    if stated == 0 or not np.isfinite(stated):
        raise ValueError(f"a stated difference needs a sign, got {stated}")
    side = 1.0 if stated > 0 else -1.0

    def excludes(iv: Interval | None, sign: float) -> bool:
        return iv is not None and np.isfinite(iv.low) and (iv.low > 0 if sign > 0 else iv.high < 0)

    def size(iv: Interval) -> str:
        if abs(stated) > max(abs(iv.low), abs(iv.high)):
            return " (smaller than stated)"
        if abs(stated) < min(abs(iv.low), abs(iv.high)):
            return " (larger than stated)"
        return ""

    if excludes(crossed, side) and crossed.estimand == ESTIMAND_CROSSED:
        return "reproduced" + size(crossed)
    if excludes(seeds, side):
        return "reproduced on this test set only" + size(seeds)
    if excludes(crossed, side):
        return "reproduced for these trained models only (one seed)" + size(crossed)
    if excludes(crossed, -side) or excludes(seeds, -side):
        return "opposite"
    return "not shown (interval includes 0)"
