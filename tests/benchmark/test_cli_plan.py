"""`bench plan` is registered, answers before any training, and imports no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_bench_plan_prints_both_designs_without_torch(tmp_path):
    code = ("import sys; from benchmark.cli import main; "
            f"rc = main(['plan', '--suite', 'table2', '--dataset', 'twitter', '--folds', '3', '--seeds', '2', "
            f"'--workdir', {str(tmp_path)!r}, '--target', '0.05']); "
            "print('TORCH', 'torch' in sys.modules); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO), "BENCH_DATA_ROOT": str(tmp_path / "none")})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "current design:" in text and "3-fold cross-validation by" in text
    assert "Kish effective clusters" in text and "MDD between two rows" in text
    assert "no stored cells: assumed accuracy 0.8" in text
    assert "cheapest design for ±0.05 on accuracy" in text
    assert "Weibo" not in text  # --dataset twitter only
    assert "TORCH False" in text


def test_bench_plan_refuses_an_unknown_slot(tmp_path, capsys):
    from benchmark.cli import main
    assert main(["plan", "--suite", "table2", "--dataset", "twiter", "--workdir", str(tmp_path)]) == 2
    assert "no dataset slot twiter" in capsys.readouterr().err


def test_bench_plan_rows_and_holm_family_follow_the_run(tmp_path, capsys, monkeypatch):
    """--row narrows the plan as it narrows `bench run`, and the Holm family is the report's: every row
    against the reference on each slot with data (6 rows on Twitter alone = 5 comparisons)."""
    from benchmark.cli import main
    monkeypatch.setenv("BENCH_DATA_ROOT", str(tmp_path / "none"))
    six = ["--row", "COOLANT", "--row", "w/o ITM", "--row", "w/o ITC", "--row", "w/o CMF", "--row", "w/o ATT",
           "--row", "w/o AGU"]
    base = ["plan", "--suite", "table2", "--folds", "3", "--seeds", "2", "--workdir", str(tmp_path)]
    assert main(base + six + ["--dataset", "twitter"]) == 0
    out = capsys.readouterr().out
    assert "6 row(s)" in out and "Holm family: 5 comparison(s)" in out
    assert main(base + six) == 0  # both slots resolve to synthetic data here
    assert "Holm family: 10 comparison(s)" in capsys.readouterr().out
    assert main(base) == 0
    assert "8 row(s)" in (out := capsys.readouterr().out) and "Holm family: 14 comparison(s)" in out
    assert main(base + ["--row", "w/o XYZ"]) == 2
    assert "suite table2 has no row 'w/o XYZ'" in capsys.readouterr().err
