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
