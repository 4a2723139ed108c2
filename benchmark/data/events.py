"""Event labels for event-adversarial models (EANN) on datasets that publish none.

EANN needs an event id per training post. Twitter MediaEval names the event in each image id
(``boston_fake_03``), and the mediaeval adapter fills ``NewsItem.event`` from it. Weibo, the
NovEmoFake parts and the synthetic pairs have no event field; the NovEmoFake paper (section 5,
"EANN") clusters the multimodal features of the target posts with K-Means++ into 10 clusters, EANN's
default, and uses the cluster id as the event label. :func:`kmeans_events` does exactly that with
scikit-learn (``KMeans(init="k-means++", n_init=10, random_state=seed)``).

The clustering is fitted on the training items only and then *predicted* for validation and test
(:func:`fit_kmeans_events`, :func:`assign_kmeans_events`), so no information from the held-out splits
shapes the clusters. The paper fitted on all targets; fitting on train only is the leak-free choice
of this suite and is stated in docs/datasets.md.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Mapping

import numpy as np

from benchmark.data.schema import DataError, DatasetSplits, NewsItem

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_EVENT_CLUSTERS", "kmeans_events", "fit_kmeans_events", "assign_kmeans_events",
           "event_name"]

DEFAULT_EVENT_CLUSTERS = 10  # EANN's default number of events, as used by the NovEmoFake paper


def event_name(cluster: int) -> str:
    """The NewsItem.event string for a cluster id (``"cluster-3"``)."""
    return f"cluster-{int(cluster)}"


def _as_matrix(features: np.ndarray, what: str) -> np.ndarray:
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2:
        raise DataError(f"{what}: expected a 2-D (items x features) array, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        bad = int(np.sum(~np.isfinite(matrix).all(axis=1)))
        raise DataError(f"{what}: {bad} row(s) contain NaN or inf; recompute those features before "
                        "clustering events")
    return matrix


def _fit(train: np.ndarray, k: int, seed: int):
    from sklearn.cluster import KMeans  # imported lazily: scikit-learn is slow to import

    if k < 1:
        raise DataError(f"k={k}: the number of event clusters must be at least 1")
    if train.shape[0] < k:
        raise DataError(f"cannot cluster {train.shape[0]} training item(s) into k={k} events: pass a "
                        f"smaller k (at most the number of training items)")
    model = KMeans(n_clusters=k, init="k-means++", n_init=10, random_state=seed)
    model.fit(train)
    return model


def kmeans_events(features: np.ndarray, k: int = DEFAULT_EVENT_CLUSTERS, seed: int = 0) -> np.ndarray:
    """Cluster ids (0..k-1) of ``features`` (rows = items) by K-Means++, as the NovEmoFake paper does.

    Use this on training features; for validation/test use :func:`fit_kmeans_events`, which predicts
    them with the centres fitted on train.
    """
    train = _as_matrix(features, "event features")
    model = _fit(train, k, seed)
    return model.labels_.astype(np.int64)


def fit_kmeans_events(train_features: np.ndarray, others: Mapping[str, np.ndarray] | None = None,
                      k: int = DEFAULT_EVENT_CLUSTERS, seed: int = 0) -> dict[str, np.ndarray]:
    """Fit K-Means++ on ``train_features`` only; predict every array in ``others`` with it.

    Returns ``{"train": labels, **{name: labels}}``.
    """
    train = _as_matrix(train_features, "train event features")
    model = _fit(train, k, seed)
    out: dict[str, np.ndarray] = {"train": model.labels_.astype(np.int64)}
    for name, features in (others or {}).items():
        matrix = _as_matrix(features, f"{name} event features")
        if matrix.shape[0] == 0:
            out[name] = np.zeros(0, dtype=np.int64)
            continue
        if matrix.shape[1] != train.shape[1]:
            raise DataError(f"{name} event features have {matrix.shape[1]} columns but train has "
                            f"{train.shape[1]}: use the same encoder for every split")
        out[name] = model.predict(matrix).astype(np.int64)
    log.info("k-means events: k=%d seed=%d fitted on %d training items", k, seed, train.shape[0])
    return out


def assign_kmeans_events(splits: DatasetSplits, features: Mapping[str, np.ndarray],
                         k: int = DEFAULT_EVENT_CLUSTERS, seed: int = 0,
                         overwrite: bool = False) -> DatasetSplits:
    """A copy of ``splits`` whose items carry ``event = "cluster-<id>"`` from train-fitted K-Means++.

    ``features`` maps each split name to its (items x dims) array, rows in the split's item order.
    Items that already have an event keep it unless ``overwrite`` (Twitter's image-prefix events are
    the real ones).
    """
    for split_name in ("train", "validation", "test"):
        rows = np.asarray(features.get(split_name, np.zeros((0, 0))))
        expected = len(splits.split(split_name))
        if rows.shape[0] != expected:
            raise DataError(f"{splits.name}: {split_name} has {expected} items but {rows.shape[0]} "
                            "feature rows were given; compute features for every item in order")
    labels = fit_kmeans_events(features["train"],
                               {name: features[name] for name in ("validation", "test")
                                if len(splits.split(name))}, k=k, seed=seed)

    def relabel(items: list[NewsItem], ids: np.ndarray | None) -> list[NewsItem]:
        if ids is None:
            return list(items)
        return [item if (item.event is not None and not overwrite)
                else dataclasses.replace(item, event=event_name(cluster))
                for item, cluster in zip(items, ids)]

    result = dataclasses.replace(
        splits,
        train=relabel(splits.train, labels["train"]),
        validation=relabel(splits.validation, labels.get("validation")),
        test=relabel(splits.test, labels.get("test")),
        problems=list(splits.problems),
        notes=list(splits.notes) + [f"events: K-Means++ (k={k}, n_init=10, seed={seed}) fitted on "
                                    "train features, predicted for validation/test"],
    )
    return result
