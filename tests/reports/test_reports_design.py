"""The evaluation design in tables (header line, table.csv column, fold-to-fold spread), the
cluster-weighted columns of a metric table, and a CV record never sharing a row with a split record."""

from __future__ import annotations

import csv
import io
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmark.cells import cell_identity, identity_tags, setting_key
from reports.build import _decorate, fold_spread_lines, table_metrics
from reports.records import CellRecord
from reports.render import render_csv, render_markdown
from reports.store import _choose
from reports.tables import design_text, metric_table

CV_TAGS = {"design.fold": "0", "split": "5-fold by event", "cluster_unit": "image"}


def record(row: str, seed: int, correct: list[int], tags: dict, clusters: list[str]) -> CellRecord:
    y_true = [1, 0] * (len(correct) // 2)
    y_pred = [t if c else 1 - t for t, c in zip(y_true, correct)]
    preds = pd.DataFrame({"item_id": [f"i{k}" for k in range(len(correct))], "y_true": y_true, "y_pred": y_pred,
                          "cluster": clusters})
    return CellRecord(suite="t", model="m", variant="default", row=row, dataset="twitter", dataset_name="d",
                      data_source="real", seed=seed, protocol="clean",
                      metrics={"accuracy": float(np.mean(correct))}, predictions=preds, tags=dict(tags),
                      run_id=f"{row}{seed}")


def test_design_text_names_split_and_cross_validation():
    assert design_text(record("A", 0, [1, 1], {"split": "published"}, ["a", "b"])) == "published split"
    cv = record("A", 0, [1, 1], {**CV_TAGS, "fold_accuracy": "[1.0, 0.5]"}, ["a", "b"])
    assert design_text(cv) == "5-fold cross-validation by event (out-of-fold predictions pooled per seed)"
    assert design_text(record("A", 0, [1, 1], {}, ["a", "b"])) == "split not recorded"


def cv_records() -> list[CellRecord]:
    clusters = ["a", "a", "a", "a", "b", "c", "d", "e"]
    out = []
    for seed in range(2):
        tags = {**CV_TAGS, "fold_accuracy": json.dumps([0.5 + 0.1 * seed, 0.9])}
        out.append(record("COOLANT", seed, [1, 1, 1, 1, 0, 1, 0, seed], tags, clusters))
        out.append(record("w/o ITM", seed, [0, 0, 0, 0, 1, 1, 1, 1 - seed], tags, clusters))
    return out


def test_metric_table_has_cluster_weighted_columns_design_column_and_spread():
    recs = cv_records()
    metrics = table_metrics(["accuracy", "fake_f1", "macro_f1"])
    assert metrics == ["accuracy", "fake_f1", "macro_f1", "accuracy@cluster", "fake_f1@cluster"]
    table = _decorate(metric_table(recs, ["COOLANT", "w/o ITM"], ["twitter"], metrics, reference_row="COOLANT",
                                   name="t2"), recs)
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    acc_c = [r for r in rows if r["row"] == "COOLANT" and r["metric"] == "accuracy@cluster"][0]
    # clusters a (4 items), b, c, d, e: seed 0 gets a, c right -> 2/5; seed 1 a, c, e -> 3/5
    assert float(acc_c["mean"]) == pytest.approx(0.5)
    acc = [r for r in rows if r["row"] == "COOLANT" and r["metric"] == "accuracy"][0]
    assert float(acc["mean"]) == pytest.approx((5 / 8 + 6 / 8) / 2)
    assert {r["design"] for r in rows if r["metric"] != "paired_test"} == {
        "5-fold cross-validation by event (out-of-fold predictions pooled per seed)"}
    paired = [r for r in rows if r["metric"] == "paired_test"][0]
    # w/o ITM gets b, c, d (and e in seed 0) right: 4/5, 3/5 -> 0.7; minus COOLANT's 0.5
    assert float(paired["cluster_difference"]) == pytest.approx(0.7 - 0.5)
    md = render_markdown(table)
    assert "- Design: twitter: 5-fold cross-validation by event (out-of-fold predictions pooled per seed)" in md
    assert "@cluster: Δacc" in md and "each cluster weighted equally" in md
    assert "Kish effective clusters" in md and "accuracy@cluster: ±" in md
    assert "COOLANT on twitter: folds 0.500-0.900, sd 0.247 (2 seed(s))" in md


def test_fold_spread_only_for_pooled_records():
    recs = [record("A", 0, [1, 0], {"split": "published"}, ["a", "b"])]
    assert fold_spread_lines(recs) == []


def test_cluster_weighted_column_without_stored_clusters_says_why():
    rec = record("A", 0, [1, 0], {"split": "published"}, ["a", "b"])
    rec.predictions = rec.predictions.drop(columns="cluster")
    table = metric_table([rec], ["A"], ["twitter"], ["accuracy", "accuracy@cluster"])
    assert table.rows[0].cells[1].text.startswith("n/a:") and "no cluster column" in table.rows[0].cells[1].text


def identity(**over):
    base = dict(model="coolant", variant="default", config={"lr": 1}, dataset="mediaeval2016", data_fingerprint="d1",
                split="published", cluster_unit="image", encoders={"text": "t"}, seed=0, protocol="clean",
                limit=None, precision="bf16")
    base.update(over)
    return cell_identity(**base)


def run(tags: dict, status: str = "FINISHED"):
    return SimpleNamespace(info=SimpleNamespace(status=status, run_id=tags["cell_key"]),
                           data=SimpleNamespace(tags=tags, params={}))


def test_a_cv_run_and_a_split_run_of_one_row_are_different_settings_and_never_mixed():
    split_id = identity()
    # even with the same data fingerprint and split name, the design key alone separates the settings
    cv_ids = [identity(seed=0, design={"fold": f}) for f in range(2)]
    assert setting_key(cv_ids[0]) == setting_key(cv_ids[1]) != setting_key(split_id)
    assert setting_key(identity(seed=1)) == setting_key(split_id)
    cv_runs = [run({**identity_tags(i), "seed": "0", "design.fold": str(i["design"]["fold"])}) for i in cv_ids]
    split_run = run({**identity_tags(split_id), "seed": "0"})
    chosen, other = _choose([*cv_runs, split_run])  # newest first: the CV setting wins
    assert {r.data.tags["cell_key"] for r in chosen} == {r.data.tags["cell_key"] for r in cv_runs}
    assert [r for r, _ in other] == [split_run]
    chosen, other = _choose([split_run, *cv_runs])
    assert chosen == [split_run] and len(other) == 2
