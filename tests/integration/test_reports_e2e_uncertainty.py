"""End to end on the tiny synthetic set: runs store clusters, `bench report` rebuilds the table with
clustered statistics from the store alone, and old runs without a cluster column fall back to unit
"item" with a note (never silently)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.tracking import Tracker

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    wd = tmp_path_factory.mktemp("bench-i11")
    assert main(["run", "--suite", "table2", "--row", "COOLANT", "--row", "w/o ITM", "--dataset", "twitter",
                 "--seeds", "2", "--max-epochs", "1", "--limit", "60", "--device", "cpu",
                 "--workdir", str(wd)]) == 0
    return wd


def test_runs_store_cluster_column_unit_tag_and_config(workdir):
    runs = Tracker(workdir).cell_runs("table2")
    assert len(runs) == 4
    for run in runs:
        assert run.data.tags["cluster_unit"] == "image"
        folder = Tracker(workdir).artifact_path(run)
        preds = pd.read_csv(folder / "predictions.csv")
        assert "cluster" in preds.columns and preds["cluster"].notna().all()
        assert json.loads((folder / "config.json").read_text())["cluster_unit"] == "image"
        # balanced accuracy and ROC-AUC are logged per cell
        assert "test_balanced_accuracy" in run.data.metrics and "test_macro_f1" in run.data.metrics
        assert "test_roc_auc" in run.data.metrics


def test_report_rebuilds_with_clustered_statistics(workdir):
    assert main(["report", "--suite", "table2", "--workdir", str(workdir)]) == 0
    out = workdir / "reports" / "table2"
    md = (out / "table.md").read_text()
    assert "Clusters (twitter): unit image" in md and "test items" in md
    assert "Minimum accuracy difference detectable at 80% power" in md
    assert "Estimand (a): on this fixed test set" in md and "Estimand (b): generalising over test clusters" in md
    assert "Welch" in md and "Holm" in md
    assert "fewer than 5 seeds" in md  # two seeds per row
    assert "Twitter balanced accuracy" in md  # column heads from labels
    df = pd.read_csv(out / "table.csv")
    for col in ("cluster_unit", "n_clusters", "n_seeds", "ci_low", "ci_high", "verdict"):
        assert col in df.columns, col
    acc = df[(df["row"] == "COOLANT") & (df["column"] == "twitter: accuracy")].iloc[0]
    assert acc["cluster_unit"] == "image" and int(acc["n_seeds"]) == 2 and int(acc["n_clusters"]) >= 1
    assert acc["verdict"] in ("below", "above") or acc["verdict"].startswith(("inconclusive (±", "matches (TOST"))
    assert "Clusters (twitter): unit image" in (out / "table.tex").read_text()


def test_old_runs_without_cluster_column_fall_back_and_say_so(workdir):
    tracker = Tracker(workdir)
    for run in tracker.cell_runs("table2"):
        path = tracker.artifact_path(run) / "predictions.csv"
        pd.read_csv(path).drop(columns=["cluster"]).to_csv(path, index=False)
    assert main(["report", "--suite", "table2", "--workdir", str(workdir)]) == 0
    md = (workdir / "reports" / "table2" / "table.md").read_text()
    assert "Clusters (twitter): unit item" in md
    assert "no cluster column" in md and "unit 'item'" in md
