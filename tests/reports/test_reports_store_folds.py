"""Pooling cross-validation cells: a seed's K fold cells become one record holding every item's
out-of-fold prediction; an incomplete seed is named, never shown as if complete."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from reports.records import CellRecord
from reports.store import pool_folds


def fold_record(fold: int, seed: int, items: list[str], correct: list[int], k: int = 2) -> CellRecord:
    y_true = [1, 0] * (len(items) // 2)
    y_pred = [t if c else 1 - t for t, c in zip(y_true, correct)]
    preds = pd.DataFrame({"item_id": items, "y_true": y_true, "y_pred": y_pred, "p_fake": [0.5] * len(items)})
    return CellRecord(suite="t", model="m", variant="default", row="R", dataset="twitter", dataset_name="d",
                      data_source="synthetic", seed=seed, protocol="clean",
                      metrics={"accuracy": sum(correct) / len(correct)}, predictions=preds,
                      tags={"design.fold": str(fold), "split": f"{k}-fold by event"}, run_id=f"run{seed}{fold}")


def test_a_seeds_folds_pool_into_one_record_with_metrics_on_every_item():
    records = [fold_record(0, 0, ["a", "b"], [1, 1]), fold_record(1, 0, ["c", "d", "e", "f"], [1, 0, 0, 0])]
    left_out: list = []
    (pooled,) = pool_folds(records, left_out)
    assert sorted(pooled.predictions["item_id"]) == ["a", "b", "c", "d", "e", "f"]
    assert pooled.metrics["accuracy"] == pytest.approx(3 / 6)  # item-weighted over the pool, not 0.5*(1+0.25)
    assert json.loads(pooled.tags["fold_accuracy"]) == [1.0, 0.25]
    assert left_out == []


def test_a_pooled_seed_fingerprints_the_features_of_every_fold():
    def pooled(prints: list[str | None]) -> dict[str, str]:
        records = [fold_record(0, 0, ["a", "b"], [1, 1]), fold_record(1, 0, ["c", "d"], [1, 0])]
        for record, value in zip(records, prints):
            if value:
                record.tags["features_fingerprint"] = value
        (out,) = pool_folds(records, [])
        return out.tags
    both = pooled(["f0", "f1"])["features_fingerprint"]
    assert len(both) == 16 and both not in ("f0", "f1")  # not fold 0's alone
    assert pooled(["f0", "f2"])["features_fingerprint"] != both  # another fold's features: another print
    assert "features_fingerprint" not in pooled(["f0", None])  # one fold unrecorded: nothing claimed


def test_an_incomplete_seed_is_left_out_and_named():
    records = [fold_record(0, 0, ["a", "b"], [1, 1]), fold_record(0, 1, ["a", "b"], [1, 0]),
               fold_record(1, 1, ["c", "d"], [1, 1])]
    left_out: list = []
    pooled = pool_folds(records, left_out)
    assert [r.seed for r in pooled] == [1]
    assert len(left_out) == 1 and "folds [0] of 2 finished" in str(left_out[0])


def test_an_item_in_two_folds_is_refused():
    records = [fold_record(0, 0, ["a", "b"], [1, 1]), fold_record(1, 0, ["b", "c"], [1, 1])]
    with pytest.raises(ValueError, match="predicted by two folds"):
        pool_folds(records, [])


def test_module_activity_pools_the_fold_models_within_model_spread():
    # fold 0's model gives g = [0.2, 0.4] on its two items, fold 1's g = [0.7, 0.7, 0.8, 0.8]: the mean is
    # over all six items (0.6), the std the root of the item-weighted mean variance sqrt((2*0.01 +
    # 4*0.0025) / 6) = 0.0707, not the std of the union (0.2345: that counts the folds' shift)
    import numpy as np
    a, b = np.array([0.2, 0.4]), np.array([0.7, 0.7, 0.8, 0.8])
    r0 = fold_record(0, 0, ["a", "b"], [1, 1])
    r1 = fold_record(1, 0, ["c", "d", "e", "f"], [1, 0, 0, 0])
    r0.metrics.update({"activity_g_mean": a.mean(), "activity_g_std": a.std()})
    r1.metrics.update({"activity_g_mean": b.mean(), "activity_g_std": b.std()})
    (pooled,) = pool_folds([r0, r1], [])
    assert pooled.metrics["activity_g_mean"] == pytest.approx(0.6)
    assert pooled.metrics["activity_g_std"] == pytest.approx(np.sqrt((2 * 0.01 + 4 * 0.0025) / 6))
    assert json.loads(pooled.tags["fold_activity"]) == [
        {"activity_g_mean": pytest.approx(0.3), "activity_g_std": pytest.approx(0.1)},
        {"activity_g_mean": pytest.approx(0.75), "activity_g_std": pytest.approx(0.05)}]


def test_a_weight_missing_from_one_fold_is_not_pooled():
    r0 = fold_record(0, 0, ["a", "b"], [1, 1])
    r1 = fold_record(1, 0, ["c", "d"], [1, 1])
    r0.metrics.update({"activity_g_mean": 0.5, "activity_g_std": 0.1})
    (pooled,) = pool_folds([r0, r1], [])
    assert "activity_g_std" not in pooled.metrics
