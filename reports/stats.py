"""Statistics behind every reproduced cell: seed aggregation, item-bootstrap intervals, McNemar, Holm.

Why these and why here: a table cell must say more than one number. It shows the mean and the
spread over training seeds (how much the seed lottery moves the result), a 95% interval from a
bootstrap over test *items* (how much the finite test set moves it), and whether the paper's value
lies inside that interval. Comparisons between two rows use McNemar's test on the per-item
predictions, Holm-corrected across the comparisons of one table.

Everything here is a pure function over arrays (seeds x items), seeded where random, with no I/O,
so it can be tested against exact hand computations and against statsmodels/scipy.

Conventions
-----------
* Labels: 1 = fake (the positive class), 0 = real, as in :mod:`benchmark.metrics`.
* ``y_pred_by_seed`` is an integer array of shape ``(n_seeds, n_items)``; a 1-D array is one seed.
  Every seed must have been scored on the same items in the same order (the caller aligns by
  ``item_id``).
* Paired bootstrap: each resample draws one set of item indices and applies it to *every* seed
  (and, for a difference, to both models), so the item-level pairing is kept; the metric is averaged
  over seeds within a resample. The interval is the percentile interval of those averages.
* McNemar over several seeds: each model's per-item prediction is the **majority vote over seeds**
  (ties, possible with an even number of seeds, go to the first seed's prediction). Chosen over
  "seed 0 only" because it uses every trained model and does not let one seed's luck decide a
  significance claim, while still giving one prediction per item, which McNemar's pairing needs.
  Seed 0 alone is available as ``combine="first"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar
from statsmodels.stats.multitest import multipletests

__all__ = [
    "BOOTSTRAP_METRICS", "ConfidenceInterval", "McNemarResult", "EXACT_BELOW",
    "aggregate_over_seeds", "metric_from_predictions", "paired_bootstrap_ci", "paired_bootstrap_cis",
    "paired_bootstrap_diff_ci",
    "majority_vote", "combine_seeds", "mcnemar_test", "holm", "reference_verdict", "significance_mark",
]

#: McNemar uses the exact binomial test when the discordant count b + c is below this.
EXACT_BELOW = 25

Verdict = Literal["reproduced", "below", "above"]


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
# metrics computed from confusion counts (vectorised over resamples)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0 (sklearn's zero_division=0)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.zeros(np.broadcast(num, den).shape, dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _counts_metric(name: str, tp, fp, fn, tn) -> np.ndarray:
    """A metric of :func:`benchmark.metrics.classification_metrics` from confusion counts (fake = 1)."""
    n = tp + fp + fn + tn
    f1_fake = _safe_div(2 * tp, 2 * tp + fp + fn)
    f1_real = _safe_div(2 * tn, 2 * tn + fn + fp)
    table = {
        "accuracy": lambda: _safe_div(tp + tn, n),
        "micro_f1": lambda: _safe_div(tp + tn, n),  # binary, both labels: micro F1 == accuracy
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
        raise ValueError(f"unknown metric {name!r}; choose one of {sorted(table)} or pass a callable")
    return table[name]()


#: Metric names the bootstrap computes in vectorised form (same definitions as benchmark.metrics).
BOOTSTRAP_METRICS = ("accuracy", "fake_precision", "fake_recall", "fake_f1", "real_precision",
                     "real_recall", "real_f1", "macro_f1", "micro_f1", "weighted_f1")

MetricArg = str | Callable[[np.ndarray, np.ndarray], float]


def _as_seed_matrix(y_pred_by_seed, n_items: int, what: str = "y_pred_by_seed") -> np.ndarray:
    arr = np.asarray(y_pred_by_seed)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_items:
        raise ValueError(f"{what} must have shape (n_seeds, {n_items}) or ({n_items},); got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{what} has no seeds")
    return arr.astype(int)


def metric_from_predictions(y_true, y_pred, metric: MetricArg) -> float:
    """One metric for one prediction vector (fake = 1)."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if callable(metric):
        return float(metric(y_true, y_pred))
    tp = np.sum((y_true == 1) & (y_pred == 1))
    fp = np.sum((y_true == 0) & (y_pred == 1))
    fn = np.sum((y_true == 1) & (y_pred == 0))
    tn = np.sum((y_true == 0) & (y_pred == 0))
    return float(_counts_metric(metric, tp, fp, fn, tn))


def _resampled_counts(y_true: np.ndarray, preds: np.ndarray, idx: np.ndarray):
    """Confusion counts (tp, fp, fn, tn), each (n_seeds, n_resamples), for index matrix (R, n)."""
    yt = y_true[idx][None, :, :] == 1  # (1, R, n)
    yp = preds[:, idx] == 1  # (S, R, n)
    return (np.sum(yt & yp, axis=2), np.sum(~yt & yp, axis=2),
            np.sum(yt & ~yp, axis=2), np.sum(~yt & ~yp, axis=2))


def _resampled_seed_means(y_true: np.ndarray, preds: np.ndarray, idx: np.ndarray,
                          metrics: Sequence[MetricArg]) -> list[np.ndarray]:
    """For each metric, the seed-averaged value on each resample (row of ``idx``)."""
    out: list[np.ndarray] = []
    counts = None
    for metric in metrics:
        if callable(metric):
            vals = np.empty(idx.shape[0])
            for r, ix in enumerate(idx):
                vals[r] = np.mean([metric(y_true[ix], p[ix]) for p in preds])
            out.append(vals)
        else:
            if counts is None:
                counts = _resampled_counts(y_true, preds, idx)
            out.append(_counts_metric(metric, *counts).mean(axis=0))
    return out


#: at most this many (seed x resample x item) cells are held at once; bounds memory on large test sets
_MAX_CELLS_PER_CHUNK = 20_000_000


def _bootstrap_indices(n_items: int, n_boot: int, seed: int, chunk: int, n_seeds: int = 1):
    """Resampled index matrices, ``chunk`` resamples at a time (fewer on large test sets).

    The indices are drawn from one generator stream, so the resamples do not depend on the chunking.
    """
    chunk = max(1, min(chunk, _MAX_CELLS_PER_CHUNK // max(1, n_items * n_seeds)))
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        r = min(chunk, n_boot - done)
        yield rng.integers(0, n_items, size=(r, n_items))
        done += r


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its percentile-bootstrap interval."""

    estimate: float  # seed-averaged metric on the full test set (or the difference of two such)
    low: float
    high: float
    level: float  # e.g. 0.95
    n_boot: int
    n_items: int
    n_seeds: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def _check_boot_args(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")


def _check_metric(metric: MetricArg) -> None:
    if not callable(metric) and metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {list(BOOTSTRAP_METRICS)} or pass a callable")


def paired_bootstrap_cis(y_true, y_pred_by_seed, metrics: Sequence[MetricArg], n_boot: int = 1000,
                         seed: int = 0, alpha: float = 0.05, chunk: int = 250) -> list[ConfidenceInterval]:
    """:func:`paired_bootstrap_ci` for several metrics at once, sharing the resamples (and the cost).

    With the same ``seed`` each interval equals what :func:`paired_bootstrap_ci` returns for that metric.
    """
    _check_boot_args(n_boot, alpha)
    for m in metrics:
        _check_metric(m)
    y_true = np.asarray(y_true, dtype=int).ravel()
    n = y_true.size
    if n == 0:
        raise ValueError("cannot bootstrap an empty test split")
    preds = _as_seed_matrix(y_pred_by_seed, n)
    parts: list[list[np.ndarray]] = [[] for _ in metrics]
    for idx in _bootstrap_indices(n, n_boot, seed, chunk, preds.shape[0]):
        for k, vals in enumerate(_resampled_seed_means(y_true, preds, idx, metrics)):
            parts[k].append(vals)
    out = []
    for metric, chunks in zip(metrics, parts):
        estimate = float(np.mean([metric_from_predictions(y_true, p, metric) for p in preds]))
        low, high = np.quantile(np.concatenate(chunks), [alpha / 2.0, 1.0 - alpha / 2.0])
        out.append(ConfidenceInterval(estimate, float(low), float(high), 1.0 - alpha, n_boot, n, preds.shape[0]))
    return out


def paired_bootstrap_ci(y_true, y_pred_by_seed, metric: MetricArg = "accuracy", n_boot: int = 1000,
                        seed: int = 0, alpha: float = 0.05, chunk: int = 250) -> ConfidenceInterval:
    """Percentile bootstrap interval over test items for a metric averaged over seeds.

    Each resample draws n items with replacement and applies the same indices to every seed's
    predictions; the statistic is the mean over seeds of the metric on that resample. The interval is
    the (alpha/2, 1 - alpha/2) quantiles of those statistics; ``estimate`` is the seed mean on the full
    test set. ``metric`` is one of :data:`BOOTSTRAP_METRICS` (vectorised) or a callable
    ``(y_true, y_pred) -> float``.
    """
    return paired_bootstrap_cis(y_true, y_pred_by_seed, [metric], n_boot, seed, alpha, chunk)[0]


def paired_bootstrap_diff_ci(y_true, pred_a_by_seed, pred_b_by_seed, metric: MetricArg = "accuracy",
                             n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
                             chunk: int = 250) -> ConfidenceInterval:
    """Percentile bootstrap interval for (seed-mean metric of A) - (seed-mean metric of B).

    Both models must be scored on the same items in the same order; every resample applies the same
    item indices to A's and B's seeds, which is what makes the interval of the difference narrow when
    the two models err on the same items. A and B may have different numbers of seeds
    (``n_seeds`` in the result is the smaller).
    """
    _check_boot_args(n_boot, alpha)
    _check_metric(metric)
    y_true = np.asarray(y_true, dtype=int).ravel()
    n = y_true.size
    if n == 0:
        raise ValueError("cannot bootstrap an empty test split")
    pa = _as_seed_matrix(pred_a_by_seed, n, "pred_a_by_seed")
    pb = _as_seed_matrix(pred_b_by_seed, n, "pred_b_by_seed")
    est = (np.mean([metric_from_predictions(y_true, p, metric) for p in pa])
           - np.mean([metric_from_predictions(y_true, p, metric) for p in pb]))
    diffs = np.concatenate([
        _resampled_seed_means(y_true, pa, idx, [metric])[0] - _resampled_seed_means(y_true, pb, idx, [metric])[0]
        for idx in _bootstrap_indices(n, n_boot, seed, chunk, pa.shape[0] + pb.shape[0])])
    low, high = np.quantile(diffs, [alpha / 2.0, 1.0 - alpha / 2.0])
    return ConfidenceInterval(float(est), float(low), float(high), 1.0 - alpha, n_boot, n,
                              min(pa.shape[0], pb.shape[0]))


# ---------------------------------------------------------------------------------------------
# McNemar


def majority_vote(y_pred_by_seed) -> np.ndarray:
    """Per-item majority over seeds; a tie (even number of seeds) takes the first seed's prediction."""
    preds = np.asarray(y_pred_by_seed, dtype=int)
    if preds.ndim == 1:
        return preds.copy()
    if preds.ndim != 2 or preds.shape[0] == 0:
        raise ValueError(f"y_pred_by_seed must be (n_seeds, n_items); got {preds.shape}")
    fake_votes = preds.sum(axis=0) * 2
    s = preds.shape[0]
    out = np.where(fake_votes > s, 1, 0)
    tie = fake_votes == s
    out[tie] = preds[0, tie]
    return out


def combine_seeds(y_pred_by_seed, how: Literal["majority", "first"] = "majority") -> np.ndarray:
    """One prediction per item from several seeds: ``majority`` vote (default) or the ``first`` seed."""
    preds = np.asarray(y_pred_by_seed, dtype=int)
    if how == "majority":
        return majority_vote(preds)
    if how == "first":
        return preds.copy() if preds.ndim == 1 else preds[0].copy()
    raise ValueError(f"combine must be 'majority' or 'first', got {how!r}")


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test between two classifiers on the same items.

    b: items A classifies correctly and B wrongly; c: A wrongly and B correctly.
    ``method`` names the form used: "exact binomial", "chi-square with continuity correction" or
    "no discordant pairs".
    """

    b: int
    c: int
    statistic: float
    p_value: float
    method: str


def mcnemar_test(y_true, pred_a, pred_b, combine: Literal["majority", "first"] = "majority") -> McNemarResult:
    """McNemar's test: exact binomial if b + c < 25, else chi-square with continuity correction.

    The NovEmoFake reference code used the continuity-corrected chi-square; for few discordant items
    the exact binomial test is the valid form. ``pred_a``/``pred_b`` may be 1-D or (n_seeds, n_items);
    several seeds are combined per item by ``combine`` (see module docstring). With no discordant
    item (e.g. identical models) there is no evidence of a difference: p = 1.0, statistic 0.
    For the exact test the statistic is min(b, c) (statsmodels' convention); for chi-square it is
    (|b - c| - 1)^2 / (b + c).
    """
    y_true = np.asarray(y_true, dtype=int).ravel()
    n = y_true.size
    a = combine_seeds(_as_seed_matrix(pred_a, n, "pred_a"), combine)
    bp = combine_seeds(_as_seed_matrix(pred_b, n, "pred_b"), combine)
    a_ok = a == y_true
    b_ok = bp == y_true
    b = int(np.sum(a_ok & ~b_ok))
    c = int(np.sum(~a_ok & b_ok))
    if b + c == 0:
        return McNemarResult(0, 0, 0.0, 1.0, "no discordant pairs (the two models agree on every item's "
                                             "correctness); p = 1")
    table = [[int(np.sum(a_ok & b_ok)), b], [c, int(np.sum(~a_ok & ~b_ok))]]
    if b + c < EXACT_BELOW:
        res = _sm_mcnemar(table, exact=True)
        method = f"exact binomial (b + c = {b + c} < {EXACT_BELOW})"
    else:
        res = _sm_mcnemar(table, exact=False, correction=True)
        method = f"chi-square with continuity correction (b + c = {b + c} >= {EXACT_BELOW})"
    return McNemarResult(b, c, float(res.statistic), float(min(1.0, res.pvalue)), method)


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


def reference_verdict(paper_value: float, ci_low: float, ci_high: float) -> Verdict:
    """Whether the paper's value lies inside the reproduced interval.

    "reproduced": ci_low <= paper <= ci_high; "below": the reproduced interval lies below the paper's
    value (ci_high < paper); "above": it lies above (ci_low > paper).
    """
    vals = np.asarray([paper_value, ci_low, ci_high], dtype=float)
    if np.isnan(vals).any():
        raise ValueError(f"reference_verdict needs numbers; got paper={paper_value}, CI=[{ci_low}, {ci_high}]")
    if ci_low > ci_high:
        raise ValueError(f"interval is reversed: [{ci_low}, {ci_high}]")
    if ci_high < paper_value:
        return "below"
    if ci_low > paper_value:
        return "above"
    return "reproduced"

