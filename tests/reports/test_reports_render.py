"""reports.render: Markdown, LaTeX and tidy CSV from one TableData, and the index page."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports.render import (IndexEntry, latex_escape, render_csv, render_latex, render_markdown, write_index,
                            write_table)
from reports.tables import Cell, TableData, TableRow, metric_table
from tests.reports.test_reports_tables import rec


@pytest.fixture()
def table() -> TableData:
    return TableData(
        title="Ablations & 5% of R_1",
        header=["Data: twitter = mediaeval2016 (real)", "Git commit: abc1234"],
        columns=["twitter: accuracy", "note"],
        rows=[TableRow("w/o ITM_x & co", [Cell("0.883 ± 0.004 **\n95% CI [0.871, 0.895]",
                                                {"dataset": "twitter", "metric": "accuracy", "mean": 0.883,
                                                 "std": 0.004, "ci_low": 0.871, "ci_high": 0.895, "mark": "**",
                                                 "paper": None}),
                                           Cell("a | b")]),
              TableRow("COOLANT", [Cell("0.9 (one seed, no std)", {"dataset": "twitter", "metric": "accuracy",
                                                                    "mean": 0.9, "std": float("nan")}),
                                   Cell("—")])],
        footnotes=["Δ = reproduced − paper; 100% ~ all"], name="table2")


def test_latex_escape():
    assert latex_escape("a & b % c_d $ # {x} ~ ^ \\") == (
        r"a \& b \% c\_d \$ \# \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{}")
    assert latex_escape("0.9 ± 0.1, Δ −0.2") == r"0.9 $\pm$ 0.1, $\Delta$ $-$0.2"
    assert latex_escape("p < 0.01 | x") == r"p $<$ 0.01 \textbar{} x"


def test_render_latex_booktabs_and_escaped(table):
    tex = render_latex(table)
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"\caption{Ablations \& 5\% of R\_1}" in tex
    assert r"w/o ITM\_x \& co" in tex
    assert r"100\% \textasciitilde{} all" in tex
    body = tex[tex.index(r"\midrule"):tex.index(r"\bottomrule")]
    data_lines = [ln for ln in body.splitlines() if ln.endswith(r" \\")]
    assert len(data_lines) == 2
    for ln in data_lines:  # exactly one unescaped column separator per extra column
        assert ln.replace(r"\&", "").count("&") == len(table.columns)
    assert r"\begin{tabular}[t]{@{}l@{}}" in tex  # multi-line cell
    assert tex.count(r"\begin{table*}") == tex.count(r"\end{table*}") == 1
    assert r"\resizebox{\textwidth}{!}{%" in tex  # scaled to the page width


def test_render_markdown(table):
    md = render_markdown(table)
    lines = md.splitlines()
    assert lines[0] == "## Ablations & 5% of R_1"
    assert "- Git commit: abc1234" in lines
    rows = [ln for ln in lines if ln.startswith("|")]
    assert len(rows) == 4  # header, rule, two rows
    counts = {ln.replace("\\|", "").count("|") for ln in rows}
    assert counts == {len(table.columns) + 2}
    assert "0.883 ± 0.004 **; 95% CI [0.871, 0.895]" in md and "<br>" not in md
    assert "a \\| b" in md
    assert "1. Δ = reproduced − paper; 100% ~ all" in md


def test_render_csv_round_trips(table):
    df = pd.read_csv(io.StringIO(render_csv(table)))
    assert list(df.columns[:3]) == ["table", "row", "column"]
    assert len(df) == 2  # cells without values ("a | b", "—") are not data
    first = df.iloc[0]
    assert first["row"] == "w/o ITM_x & co" and first["mean"] == pytest.approx(0.883)
    assert first["ci_high"] == pytest.approx(0.895) and first["mark"] == "**"
    assert math.isnan(df.iloc[1]["std"]) and math.isnan(first["paper"])
    assert df["mean"].dtype == np.float64


def test_write_table_on_a_built_metric_table(tmp_path):
    records = [rec("COOLANT", "twitter", s, k) for s, k in ((0, 40), (1, 36))] + [rec("EANN", "twitter", 0, 100)]
    t = metric_table(records, ["COOLANT", "EANN", "MVAE"], ["twitter"], ["accuracy", "fake_f1"],
                     reference=lambda d, r, m: {"COOLANT": 0.9, "MVAE": 0.745}.get(r), reference_row="COOLANT",
                     name="table1", title="Table 1")
    paths = write_table(t, tmp_path / "table1")
    assert sorted(p.name for p in paths.values()) == ["table.csv", "table.md", "table.tex"]
    df = pd.read_csv(paths["csv"])
    acc = df[(df["row"] == "COOLANT") & (df["metric"] == "accuracy")].iloc[0]
    assert acc["mean"] == pytest.approx(0.905) and acc["verdict"] == "inconclusive (±0.110)"  # 2 seeds: t(1) prediction interval
    assert set(df.loc[df["row"] == "MVAE", "status"]) == {"not run"}  # implemented, nothing stored
    # the CSV carries the cluster unit, cluster count, seeds, interval and verdict of every reproduced cell
    for col in ("cluster_unit", "n_clusters", "n_seeds", "ci_low", "ci_high", "verdict"):
        assert col in df.columns, col
    assert acc["cluster_unit"] == "image" and int(acc["n_clusters"]) == 400 and int(acc["n_seeds"]) == 2
    assert acc["ci_low"] <= 0.905 <= acc["ci_high"]
    test = df[df["metric"] == "paired_test"].iloc[0]
    # COOLANT seeds are wrong on the first 40 and 36 items: mean correctness 1/2 on items 36-39 (no
    # tie-break toward a seed); EANN is wrong on the first 100
    assert test["row"] == "EANN" and test["difference"] == pytest.approx(0.75 - 0.905)
    md = paths["md"].read_text()
    assert "Clusters (twitter): unit image, 400 clusters" in md and "(a) [" in md and "(b) [" in md
    assert "Clusters (twitter): unit image, 400 clusters" in paths["tex"].read_text()
    assert "not run yet" in paths["md"].read_text()
    assert r"\toprule" in paths["tex"].read_text()


def test_write_index(tmp_path):
    (tmp_path / "table1").mkdir()
    idx = write_index(tmp_path, [IndexEntry("Table 1", [tmp_path / "table1" / "table.md", "table1/table.tex"],
                                            "COOLANT vs baselines"),
                                 ("Figure 3", ["figure3/tsne.png", "figure3/tsne.pdf"])],
                      {"data": "mediaeval2016 (real)", "encoders": "MiniLM + EfficientNet-Lite0",
                       "protocol": "clean", "seeds": [0, 1, 2], "python": "3.11"})
    text = idx.read_text()
    assert "[md](table1/table.md)" in text and "[tex](table1/table.tex)" in text
    assert "[png](figure3/tsne.png)" in text and "[pdf](figure3/tsne.pdf)" in text
    assert "- Seeds: 0, 1, 2" in text and "- Protocol: clean" in text
    assert "- Git commit: not recorded" in text
    assert "- Python: 3.11" in text
    assert "**Table 1** — COOLANT vs baselines" in text


def test_write_index_links_paths_given_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = write_table(TableData("T", [], ["c"], [TableRow("r", [Cell("1")])]), Path("runs/reports/t1"))
    text = write_index(Path("runs/reports"), [("T", list(written.values()))], {}).read_text()
    assert "[md](t1/table.md)" in text and "[csv](t1/table.csv)" in text
    assert "- Data: not recorded" in text
