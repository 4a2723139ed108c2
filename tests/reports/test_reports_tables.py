"""reports.tables on synthetic CellRecords whose metrics are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from benchmark.metrics import classification_metrics
from reports.records import CellRecord
from reports.reference import DifferenceClaim, reference_lookup
from reports.stats import bell_mccaffrey_df, mcnemar_test
from reports.tables import (TableData, difference_table, mcnemar_table, metric_table, prediction_matrix,
                            protocol_gap_table)

N = 400
Y = np.tile([1, 0], N // 2)


#: one image per item unless a test says otherwise
ITEM_IMAGES = np.array([f"image:{k:04d}" for k in range(N)])
#: 8 images of 50 items each (items 0-49 share image 0, ...)
BIG_IMAGES = np.array([f"image:{k // 50}" for k in range(N)])


def rec(row: str, dataset: str, seed: int, wrong: int | slice | np.ndarray, *, protocol: str = "clean",
        status: str = "FINISHED", error: str = "", items: np.ndarray | None = None, y: np.ndarray = Y,
        clusters: np.ndarray | None = ITEM_IMAGES) -> CellRecord:
    """A record whose predictions are y with the items in ``wrong`` flipped (int k = the first k items).

    ``clusters`` fills the predictions' cluster column (unit "image"); None stores no column, as runs
    stored before clusters were recorded.
    """
    pred = y.copy()
    sel = slice(0, wrong) if isinstance(wrong, int) else wrong
    pred[sel] = 1 - pred[sel]
    ids = items if items is not None else np.array([f"i{k:04d}" for k in range(len(y))])
    df = pd.DataFrame({"item_id": ids, "y_true": y, "y_pred": pred, "p_fake": pred.astype(float)})
    tags = {"git_commit": "abc1234", "encoders": "minilm+effnet-lite0"}
    if clusters is not None:
        df["cluster"] = clusters
        tags["cluster_unit"] = "image"
    return CellRecord(suite="t", model=row.split()[0], variant=row, row=row, dataset=dataset,
                      dataset_name="synthetic-demo", data_source="synthetic", seed=seed, protocol=protocol,
                      metrics=classification_metrics(y, pred) if status == "FINISHED" else {},
                      predictions=df, status=status, error=error, tags=tags, run_id=f"{row}-{seed}")


def cell(table: TableData, row: str, column: str):
    r = [x for x in table.rows if x.label == row][0]
    return r.cells[table.columns.index(column)]


@pytest.fixture(scope="module")
def table2() -> TableData:
    records = [rec("COOLANT", "twitter", s, k) for s, k in ((0, 40), (1, 36), (2, 44))]  # acc .90 .91 .89
    records += [rec("w/o ITM", "twitter", s, 120) for s in (0, 1, 2)]  # acc .70, far below COOLANT
    records += [rec("w/o CMF", "twitter", 0, 0, status="FAILED", error="CUDA out of memory\ntraceback ...")]
    records += [rec("w/o ATT", "twitter", 0, 48)]  # one seed, acc 0.88; discordant b = 8 vs COOLANT vote
    records += [rec("w/o AGU", "twitter", 0, 48)]  # the same: raw p = 2 / 2^8 < 0.01
    records += [rec("COOLANT", "other-suite-dataset", 0, 0)]  # not among the table's datasets: ignored
    rows = ["COOLANT", "w/o ITM", "w/o ITC", "w/o CMF", "w/o ATT", "w/o AGU"]
    return metric_table(records, rows, ["twitter", "weibo"],
                        ["accuracy", "fake_f1"], reference=reference_lookup("coolant_table2"),
                        reference_row="COOLANT", missing={("weibo", "*"): "Weibo images not obtainable"},
                        title="Table 2", name="table2")

PAIRED = "twitter: vs COOLANT (paired, both estimands)"


def _t_p(u: np.ndarray, df: float) -> float:
    """p of the clusters-only t-test for per-cluster differences ``u`` of equal-size clusters (hand formula)."""
    g = u.size
    w, theta = 1 / g, u.mean()
    se = math.sqrt(np.sum(w ** 2 * (u - theta) ** 2) / (1 - 2 * w + g * w ** 2))
    return float(2 * sps.t.sf(abs(theta) / se, df))


def test_metric_table_mean_std_ci_and_verdict(table2):
    c = cell(table2, "COOLANT", "twitter: accuracy")
    assert c.values["mean"] == pytest.approx(0.90)
    assert c.values["std"] == pytest.approx(0.01)
    assert c.values["n_seeds"] == 3
    assert c.values["ci_low"] <= 0.90 <= c.values["ci_high"]
    half_a = sps.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)  # (a): t over the three seeds
    assert (c.values["seeds_ci_low"], c.values["seeds_ci_high"]) == (pytest.approx(0.9 - half_a),
                                                                     pytest.approx(0.9 + half_a))
    assert c.values["paper"] == pytest.approx(0.900)
    assert c.values["difference"] == pytest.approx(0.0, abs=1e-12)
    # one run of ours falls within 0.9 ± t(2)·0.01·√(4/3) = ±0.050: too wide for a ±2-point TOST
    assert c.values["verdict"] == "inconclusive (±0.050)"
    assert c.values["pi_high"] - 0.9 == pytest.approx(sps.t.ppf(0.975, 2) * 0.01 * math.sqrt(4 / 3))
    assert c.values["cluster_unit"] == "image" and c.values["n_clusters"] == N
    assert c.text.splitlines()[0] == "0.900 ± 0.010 (3 seeds)"
    assert c.text.splitlines()[1].startswith("(a) [0.875, 0.925] (b) [")
    assert "paper 0.900 (Δ +0.000): inconclusive (±0.050)" in c.text


def test_metric_table_below_verdict_and_significance_mark(table2):
    c = cell(table2, "w/o ITM", "twitter: accuracy")
    assert c.values["mean"] == pytest.approx(0.70) and c.values["std"] == pytest.approx(0.0)
    assert c.values["verdict"] == "below"
    assert c.values["difference"] == pytest.approx(0.70 - 0.883)
    assert c.values["mark"] == "**"
    assert c.text.splitlines()[0].endswith("**")
    m = cell(table2, "w/o ITM", PAIRED)
    assert m.values["difference"] == pytest.approx(0.70 - 0.90)
    # COOLANT's seeds differ beyond their per-item noise: a seed-wide part, so (b) is t on 2 + 2 df
    assert m.values["df"] == 4.0 and m.values["estimand_b"].startswith("generalising over test clusters and")
    assert m.values["p_value"] < 0.01 / 3
    assert m.values["n_clusters"] == N and m.values["method"].startswith("CR2 over 400 clusters + seed-wide")
    assert m.values["ci_low"] <= -0.20 <= m.values["ci_high"] < 0
    # (a): Welch over seeds, (.70, .70, .70) vs (.90, .91, .89)
    se = math.sqrt(0.01 ** 2 / 3)  # w/o ITM's seeds agree: Welch's SE is COOLANT's alone, on 2 df
    assert m.values["p_seeds"] == pytest.approx(2 * sps.t.sf(0.2 / se, 2))
    assert m.text.startswith("Δacc -0.200\n(a) [")


def test_metric_table_holm_across_comparisons_and_one_seed(table2):
    att = cell(table2, "w/o ATT", PAIRED)
    agu = cell(table2, "w/o AGU", PAIRED)
    itm = cell(table2, "w/o ITM", PAIRED)
    # w/o ATT (one seed) is wrong on the first 48 items; COOLANT's mean correctness over seeds is 0 on
    # items 0-35, 1/3 on 36-39, 2/3 on 40-43, 1 from 44 on. One seed: clusters only, Bell-McCaffrey df
    u = np.zeros(N)
    u[36:40], u[40:44], u[44:48] = -1 / 3, -2 / 3, -1.0
    raw = _t_p(u, bell_mccaffrey_df(np.ones(N)))
    assert att.values["p_value"] == pytest.approx(raw) and att.values["estimand_b"].startswith("generalising over "
                                                                                              "test clusters, for")
    assert att.values["difference"] == pytest.approx(0.88 - 0.90)
    assert math.isnan(att.values["p_seeds"]) and "(a) n/a (one seed)" in att.text
    # Holm over three tests: ITM (smallest) x3; then ATT/AGU (tied) x2 and x1, made monotone -> 2 * raw
    assert itm.values["p_holm"] == pytest.approx(3 * itm.values["p_value"])
    assert att.values["p_holm"] == pytest.approx(2 * raw) and agu.values["p_holm"] == pytest.approx(2 * raw)
    assert att.values["mark"] == "**" and cell(table2, "w/o ATT", "twitter: accuracy").values["mark"] == "**"
    assert f"Holm {2 * raw:.3f} **" in att.text and "(b) clusters only [" in att.text
    acc = cell(table2, "w/o ATT", "twitter: accuracy")
    assert acc.text.splitlines()[0] == "0.880 (one seed, no std) **"
    assert math.isnan(acc.values["std"])
    assert any("fewer than 5 seeds" in f and "w/o ATT vs COOLANT on twitter (3 / 1 seeds)" in f
               for f in table2.footnotes)


def test_large_clusters_make_an_item_level_difference_insignificant():
    """Two models that differ only on one 50-item image: McNemar sees 50 discordant items, the
    clustered test one cluster (t = 1 on 7 df), and interval (b) stays wide."""
    a = [rec("A", "d", s, 50, clusters=BIG_IMAGES) for s in range(5)]  # wrong on image 0
    b = [rec("B", "d", s, 100, clusters=BIG_IMAGES) for s in range(5)]  # wrong on images 0 and 1
    t = metric_table(a + b, ["A", "B"], ["d"], ["accuracy"], reference=lambda d, r, m: 0.875,
                     reference_row="A")
    test = cell(t, "B", "d: vs A (paired, both estimands)").values
    u = np.zeros(8)
    u[1] = -1.0  # B is wrong on image 1 where A is right; seeds agree, so clusters only decide
    assert test["p_value"] == pytest.approx(_t_p(u, 7.0)) and test["mark"] == ""  # t = 1 on 7 df
    assert mcnemar_test(Y, b[0].predictions["y_pred"], a[0].predictions["y_pred"]).p_value < 1e-10
    acc = cell(t, "A", "d: accuracy").values
    assert acc["n_clusters"] == 8 and acc["cluster_unit"] == "image"
    # every seed scores 0.875 on this test set, as the paper: (a) matches; (b) stays wide (8 images)
    assert acc["verdict"] == "matches (TOST, ±0.02)" and acc["ci_high"] - acc["ci_low"] > 0.1
    narrow = metric_table(a, ["A"], ["d"], ["accuracy"], reference=lambda d, r, m: 0.875, margin_points=0.5)
    assert narrow.rows[0].cells[0].values["verdict"] == "matches (TOST, ±0.005)"  # the suite's margin, in points
    assert any("within ±0.5 points" in f for f in narrow.footnotes)
    header = "\n".join(t.header)
    assert "Clusters (d): unit image, 8 clusters over 400 test items (largest 12.5%)" in header
    assert "Minimum accuracy difference detectable at 80% power" in header
    # 8 equal images, one comparison: k flipped images give t = sqrt(7k / (8 − k)) >= t(0.975, 7) = 2.36 from k = 4
    assert any("only if at least about 4 of the 8 image clusters differ" in f for f in t.footnotes)
    assert not any("fewer than 5 seeds" in f for f in t.footnotes)


def test_old_runs_without_clusters_fall_back_to_items_and_say_so():
    records = [rec("A", "d", s, 40, clusters=None) for s in range(2)]
    t = metric_table(records, ["A"], ["d"], ["accuracy", "balanced_accuracy", "roc_auc"])
    c = t.rows[0].cells[0].values
    assert c["cluster_unit"] == "item" and c["n_clusters"] == N
    assert any("no cluster column" in f and "unit 'item'" in f for f in t.footnotes)
    assert any("Clusters (d): unit item, 400 clusters" in h for h in t.header)
    # balanced accuracy and ROC-AUC are re-scored from predictions.csv when a run did not log them
    bal = t.rows[0].cells[1].values
    assert bal["mean"] == pytest.approx(0.90)  # the 40 wrong items are half fake, half real
    auc = t.rows[0].cells[2].values
    assert auc["mean"] == pytest.approx(0.90) and auc["ci_low"] <= 0.90 <= auc["ci_high"]


def test_paper_only_row_without_a_paper_value_is_not_called_not_run():
    # FND-CLIP is in COOLANT's Table 1 for Weibo only; it has no implementation here
    records = [rec("COOLANT", "twitter", 0, 40)]
    ref = {("weibo", "FND-CLIP"): 0.907}
    t = metric_table(records, ["COOLANT", "FND-CLIP", "EANN"], ["twitter", "weibo"], ["accuracy"],
                     reference=lambda d, r, m: ref.get((d, r)), paper_only=["FND-CLIP"])
    assert cell(t, "FND-CLIP", "twitter: accuracy").text == "no paper value\nnot reproduced"
    assert cell(t, "FND-CLIP", "weibo: accuracy").text == "paper 0.907\nnot reproduced"
    assert cell(t, "EANN", "twitter: accuracy").text == "not run yet"  # implemented but not run


def test_implemented_rows_without_cells_read_not_run_yet_or_running_never_not_reproduced():
    records = [rec("COOLANT", "twitter", 0, 40)]
    ref = {("twitter", "w/o ITM"): 0.883, ("twitter", "w/o ATT"): 0.875}
    t = metric_table(records, ["COOLANT", "w/o ITM", "w/o ATT"], ["twitter"], ["accuracy"],
                     reference=lambda d, r, m: ref.get((d, r)), running=[("twitter", "w/o ATT")],
                     dataset_labels={"twitter": "Twitter"})
    assert cell(t, "w/o ITM", "twitter: accuracy").text == "not run yet\npaper 0.883"
    assert cell(t, "w/o ATT", "twitter: accuracy").text == "running\npaper 0.875"
    assert t.column_labels == ["Twitter accuracy"]
    from reports.render import render_markdown
    md = render_markdown(t)
    assert "| row | Twitter accuracy |" in md and "<br>" not in md and "not run yet; paper 0.883" in md


def test_metric_table_not_reproduced_not_available_failed(table2):
    itc = cell(table2, "w/o ITC", "twitter: fake_f1")
    assert itc.text == "not run yet\npaper 0.864"  # implemented: not run yet, not "not reproduced"
    assert itc.values["status"] == "not run"
    weibo = cell(table2, "COOLANT", "weibo: accuracy")
    assert weibo.text.startswith("not available: Weibo images not obtainable")
    assert "paper 0.923" in weibo.text
    failed = cell(table2, "w/o CMF", "twitter: accuracy")
    assert failed.text.startswith("failed: CUDA out of memory")
    assert "traceback" not in failed.text
    assert cell(table2, "COOLANT", PAIRED).text == "reference"


def test_metric_table_header_and_footnotes(table2):
    header = "\n".join(table2.header)
    assert "twitter = synthetic-demo (synthetic)" in header
    assert "Protocol: clean" in header and "Git commit: abc1234" in header
    assert "Encoders: minilm+effnet-lite0" in header and "Seeds: 0, 1, 2 (n = 3" in header
    assert "Estimand (a): on this fixed test set, across training seeds" in header
    assert "Estimand (b): generalising over test clusters (image) and training seeds" in header
    assert "Clusters (twitter): unit image, 400 clusters over 400 test items" in header
    assert "Holm-adjusted over 3 comparison(s)" in header
    assert any("Holm" in f and "Welch" in f for f in table2.footnotes)
    assert any("±2 points" in f and "TOST" not in f or "two one-sided tests" in f for f in table2.footnotes)
    assert any("inconclusive" in f for f in table2.footnotes)


def test_one_cluster_gives_no_interval_but_a_reason():
    one = np.array(["image:0"] * N)
    t = metric_table([rec("A", "d", s, 10 + s, clusters=one) for s in range(2)], ["A"], ["d"], ["accuracy"])
    c = t.rows[0].cells[0].values
    assert c["mean"] == pytest.approx(1 - 10.5 / N) and math.isnan(c["ci_low"])
    assert any("accuracy: no interval — crossed_variance needs at least 2 clusters" in f for f in t.footnotes)


def test_metric_table_partial_failure_uses_finished_seeds():
    records = [rec("A", "d", 0, 10), rec("A", "d", 1, 20), rec("A", "d", 2, 0, status="FAILED", error="NaN loss")]
    t = metric_table(records, ["A"], ["d"], ["accuracy"])
    c = t.rows[0].cells[0]
    assert c.values["n_seeds"] == 2 and c.values["n_failed"] == 1
    assert c.values["mean"] == pytest.approx(1 - 15 / N)
    assert any("seed(s) 2 failed: NaN loss" in f for f in t.footnotes)


def test_metric_table_rejects_mixed_protocols_and_duplicate_seeds():
    with pytest.raises(ValueError, match="mix protocols"):
        metric_table([rec("A", "d", 0, 1), rec("A", "d", 1, 1, protocol="as-released")], ["A"], ["d"], ["accuracy"])
    with pytest.raises(ValueError, match="seed 0 stored twice"):
        metric_table([rec("A", "d", 0, 1), rec("A", "d", 0, 2)], ["A"], ["d"], ["accuracy"])


def test_seeds_on_different_items_give_no_interval_but_a_reason():
    other = np.array([f"j{k:04d}" for k in range(N)])
    t = metric_table([rec("A", "d", 0, 10), rec("A", "d", 1, 10, items=other)], ["A"], ["d"], ["accuracy"],
                     reference=lambda d, r, m: 0.9)
    c = t.rows[0].cells[0]
    assert math.isnan(c.values["ci_low"]) and c.values["verdict"] == "above"  # from the seeds' stored metrics
    assert any("other test items" in f for f in t.footnotes)


def test_prediction_matrix_aligns_by_item_id():
    a = rec("A", "d", 0, 3)
    b = rec("A", "d", 1, 5)
    b.predictions = b.predictions.iloc[::-1].reset_index(drop=True)  # stored in another order
    m = prediction_matrix([b, a])
    assert m.seeds == (0, 1)
    assert m.y_pred[1, :5].tolist() == (1 - Y[:5]).tolist()
    assert np.array_equal(m.y_true, Y)


def test_difference_table():
    records = [rec("PMNE", "nef", s, k) for s, k in ((0, 40), (1, 40))]  # acc 0.90
    records += [rec("PM", "nef", s, 80) for s in (0, 1, 2)]  # acc 0.80
    claims = [DifferenceClaim("X", "nef", "PMNE", "PM", "accuracy", 10.0, "stated ten points"),
              DifferenceClaim("X", "nef", "PMNE", "PM", "accuracy", 30.0, "stated thirty points"),
              DifferenceClaim("X", "nef", "PMNE", "PMN", "accuracy", 7.1, "stated vs PMN")]
    t = difference_table(records, claims)
    ok = t.rows[0].cells[t.columns.index("measured (points)")].values
    assert ok["measured"] == pytest.approx(10.0)
    assert ok["ci_low"] <= 10.0 <= ok["ci_high"] and ok["ci_low"] > 0
    assert ok["verdict"] == "reproduced"
    assert t.rows[0].cells[t.columns.index("verdict")].text == "reproduced"
    assert t.rows[1].cells[t.columns.index("verdict")].text == "reproduced (smaller than stated)"
    assert t.rows[2].cells[t.columns.index("verdict")].text == "not reproduced (PMN not run)"
    assert t.rows[0].label == "PMNE − PM"
    assert ok["cluster_unit"] == "image" and ok["n_clusters"] == N and ok["n_seeds"] == 2
    assert any(h.startswith("Clusters (nef): unit image, 400 clusters") for h in t.header)
    assert any("'reproduced' only when interval (b) excludes 0" in f for f in t.footnotes)


def test_mcnemar_table():
    records = [rec("PMNE", "nef", 0, 10), rec("PM", "nef", 0, 40), rec("SAFE", "nef", 0, 13)]
    t = mcnemar_table(records, [("PMNE", "PM"), ("PMNE", "SAFE"), ("PMNE", "KMGCN")], ["nef"],
                      threshold=0.01, paper_claim="p < 0.01")
    first = t.rows[0].cells[0].values
    assert (first["b"], first["c"]) == (30, 0)
    assert first["method"].startswith("chi-square")
    assert first["statistic"] == pytest.approx(29 ** 2 / 30)
    second = t.rows[1].cells[0].values
    assert (second["b"], second["c"]) == (3, 0) and second["p_value"] == pytest.approx(0.25)
    assert first["p_holm"] == pytest.approx(2 * first["p_value"])
    assert second["p_holm"] == pytest.approx(0.25)
    # the crossed test beside it (one image per item, one seed: clusters only)
    u1, u2 = np.zeros(N), np.zeros(N)
    u1[10:40], u2[10:13] = 1.0, 1.0
    df = bell_mccaffrey_df(np.ones(N))
    assert second["p_clustered"] == pytest.approx(_t_p(u2, df)) and second["difference"] == pytest.approx(3 / N)
    assert first["p_clustered"] == pytest.approx(_t_p(u1, df))
    assert first["cluster_unit"] == "image" and first["n_clusters"] == N and first["n_seeds"] == 1
    sig_col = t.columns.index("significant at 0.01 ((b), Holm)")
    assert t.rows[0].cells[sig_col].text == "yes" and t.rows[1].cells[sig_col].text == "no"
    assert "item-level McNemar p (as in the paper)" in t.columns
    assert t.rows[2].cells[t.columns.index("method")].text == "not reproduced (KMGCN not run)"
    assert t.rows[0].cells[t.columns.index("paper")].text == "p < 0.01"
    assert any("crossed clusters x seeds" in f for f in t.footnotes) and any("item-level" in f.lower()
                                                                            for f in t.footnotes)


def test_mcnemar_table_clustered_test_disagrees_with_item_level_on_big_images():
    records = [rec("PMNE", "nef", s, 50, clusters=BIG_IMAGES) for s in range(2)]
    records += [rec("PM", "nef", s, 100, clusters=BIG_IMAGES) for s in range(2)]
    t = mcnemar_table(records, [("PMNE", "PM")], ["nef"], threshold=0.01)
    v = t.rows[0].cells[0].values
    assert (v["b"], v["c"]) == (50, 0) and v["p_value"] < 1e-10 and v["significant_item_level"]
    u = np.zeros(8)
    u[1] = 1.0
    assert v["p_clustered"] == pytest.approx(_t_p(u, 7.0)) and not v["significant"]
    assert v["verdict"] == "not significant"
    assert any("fewer than 5 seeds" in f for f in t.footnotes)


def test_protocol_gap_table():
    clean = [rec("COOLANT", "twitter", s, 80) for s in (0, 1)]  # 0.80
    released = [rec("COOLANT", "twitter", s, k, protocol="as-released") for s, k in ((0, 60), (1, 60))]  # 0.85
    released += [rec("EANN", "twitter", 0, 100, protocol="as-released")]
    t = protocol_gap_table(clean, released, ["accuracy"])
    v = t.rows[0].cells[0].values
    assert v["clean_mean"] == pytest.approx(0.80) and v["released_mean"] == pytest.approx(0.85)
    assert v["gap"] == pytest.approx(0.05)
    assert v["gap_ci_low"] <= 0.05 <= v["gap_ci_high"] and v["gap_ci_low"] > 0
    assert "gap +0.050" in t.rows[0].cells[0].text
    assert t.rows[1].label == "EANN [twitter]" and "clean: not run" in t.rows[1].cells[0].text
    with pytest.raises(ValueError, match="as-released"):
        protocol_gap_table(released, released, ["accuracy"])
