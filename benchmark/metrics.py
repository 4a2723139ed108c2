"""Classification metrics with fake = 1 as the positive class, computed with (y_true, y_pred) in that order.

(The public COOLANT code passed them swapped to ``classification_report``, exchanging precision and
recall; keeping the call in one place prevents that.)

Balanced accuracy, macro-F1 and ROC-AUC (from the predicted probability of "fake") do not reward
predicting the majority class; ROC-AUC is NaN when only one class is present or no scores are given
(a NaN metric is not logged).

Cluster-weighted metrics (``accuracy@cluster`` ...) weight every test cluster (image; publisher for
ReCOVery) equally instead of every item: item i gets weight 1 / (size of its cluster). They answer
"how often is a new image's post classified right" rather than "a new post's", the estimand that
counts independent evidence (MediaEval: one event's image can carry hundreds of tweets). Reports
compute them from predictions.csv (its ``cluster`` column), so stores older than them get them too.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, f1_score, precision_recall_fscore_support,
                             roc_auc_score)

METRIC_NAMES = ("accuracy", "fake_precision", "fake_recall", "fake_f1", "real_precision", "real_recall",
                "real_f1", "macro_f1", "micro_f1", "weighted_f1", "balanced_accuracy", "roc_auc")

#: the metrics that also have a cluster-weighted form
CLUSTER_WEIGHTED = ("accuracy", "balanced_accuracy", "fake_f1", "real_f1")
#: the suffix naming the cluster-weighted form of a metric: "accuracy@cluster"
CLUSTER_SUFFIX = "@cluster"
CLUSTER_METRIC_NAMES = tuple(m + CLUSTER_SUFFIX for m in CLUSTER_WEIGHTED)


def split_metric(name: str) -> tuple[str, bool]:
    """(base metric, cluster-weighted?): "fake_f1@cluster" -> ("fake_f1", True)."""
    if name.endswith(CLUSTER_SUFFIX):
        base = name[: -len(CLUSTER_SUFFIX)]
        if base not in CLUSTER_WEIGHTED:
            raise ValueError(f"{name!r}: only {', '.join(CLUSTER_WEIGHTED)} have a cluster-weighted form")
        return base, True
    return name, False


# How tables, figures and the console name each metric (column heads, axis labels).
METRIC_LABELS = {
    "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
    "fake_precision": "precision (fake)", "fake_recall": "recall (fake)", "fake_f1": "F1 (fake)",
    "real_precision": "precision (real)", "real_recall": "recall (real)", "real_f1": "F1 (real)",
    "macro_f1": "macro-F1", "micro_f1": "micro-F1", "weighted_f1": "weighted F1", "roc_auc": "ROC-AUC",
}


def metric_label(name: str) -> str:
    """The readable name of a metric (the raw name when it has none); cluster-weighted ones say so."""
    if name.endswith(CLUSTER_SUFFIX):
        base = name[: -len(CLUSTER_SUFFIX)]
        return f"{METRIC_LABELS.get(base, base)} @cluster (each cluster weighted equally)"
    return METRIC_LABELS.get(name, name)


def cluster_weights(clusters) -> np.ndarray:
    """Item weights 1 / (size of the item's cluster): every cluster then weighs 1 in total."""
    keys = np.asarray(clusters).astype(str).ravel()
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse.ravel()]


def cluster_weighted_metrics(y_true, y_pred, clusters) -> dict[str, float]:
    """Every metric of :data:`CLUSTER_METRIC_NAMES`: the same definitions with each item weighted by
    1 / (its cluster's size) (sklearn ``sample_weight``), so each cluster counts once."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if y_true.shape != y_pred.shape or y_true.size != np.asarray(clusters).size:
        raise ValueError(f"y_true {y_true.shape}, y_pred {y_pred.shape} and clusters {np.asarray(clusters).shape} "
                         "must give one value per item")
    if y_true.size == 0:
        raise ValueError("cannot score an empty split")
    w = cluster_weights(clusters)
    _, _, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=[1, 0], zero_division=0, sample_weight=w)
    both = len(set(y_true.tolist())) > 1
    return {
        "accuracy@cluster": float(accuracy_score(y_true, y_pred, sample_weight=w)),
        "balanced_accuracy@cluster": float(balanced_accuracy_score(y_true, y_pred, sample_weight=w)) if both
        else float(accuracy_score(y_true, y_pred, sample_weight=w)),
        "fake_f1@cluster": float(f1[0]), "real_f1@cluster": float(f1[1]),
    }


def classification_metrics(y_true, y_pred, p_fake=None) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES`; ``p_fake`` (probability of fake per item) gives roc_auc."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("cannot score an empty split")
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=[1, 0], zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "fake_precision": float(precision[0]), "fake_recall": float(recall[0]), "fake_f1": float(f1[0]),
        "real_precision": float(precision[1]), "real_recall": float(recall[1]), "real_f1": float(f1[1]),
        "macro_f1": float(f1_score(y_true, y_pred, labels=[0, 1], average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y_true, y_pred, labels=[0, 1], average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=[0, 1], average="weighted", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if len(set(y_true.tolist())) > 1
        else float(accuracy_score(y_true, y_pred)),
        "roc_auc": roc_auc(y_true, p_fake),
    }


def roc_auc(y_true, p_fake) -> float:
    """ROC-AUC of the fake-class probability; NaN without scores or with a single class in y_true."""
    y_true = np.asarray(y_true, dtype=int)
    if p_fake is None or len(set(y_true.tolist())) < 2:
        return float("nan")
    p = np.asarray(p_fake, dtype=float)
    if p.shape != y_true.shape:
        raise ValueError(f"p_fake has shape {p.shape} but y_true has {y_true.shape}")
    return float(roc_auc_score(y_true, p))
