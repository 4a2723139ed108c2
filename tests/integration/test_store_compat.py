"""A store written before the cell pipeline (commit c9f8cf2: a synthetic table2, 2 seeds, 1 epoch,
--limit 24) is re-run by today's code with nothing retrained, and its table is rebuilt identically:
refactoring how a cell is resolved must not change any stored cell's identity."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from benchmark.cli import main

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "table2_store_c9f8cf2.tar.gz"
ARGS = ["--suite", "table2", "--limit", "24", "--max-epochs", "1", "--seeds", "2", "--jobs", "1"]


@pytest.mark.slow
def test_a_store_of_the_previous_commit_is_reused_without_training(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    workdir = tmp_path / "bench-runs"
    workdir.mkdir()
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(workdir, filter="data")
    before = (workdir / "reports" / "table2" / "table.csv").read_text()

    def no_training(*args, **kwargs):
        raise AssertionError("a stored cell was retrained")

    monkeypatch.setattr("benchmark.engine.train_model", no_training)
    assert main(["run", *ARGS, "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert out.count("[skip]") == 24 and "[done]" not in out and "[redo]" not in out
    assert main(["report", "--suite", "table2", "--workdir", str(workdir)]) == 0  # rebuilt from the store
    assert (workdir / "reports" / "table2" / "table.csv").read_text() == before
