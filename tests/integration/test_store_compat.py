"""A store written before the cell pipeline (commit c9f8cf2: a synthetic table2, 2 seeds, 1 epoch,
--limit 24) is re-run by today's code with nothing retrained, and its table is the same before and after
the re-run: refactoring how a cell is resolved must not change any stored cell's identity.

Since then COOLANT's defaults changed on purpose (issue 25: the attention's excitation), which changes
the config fingerprint and so, rightly, the identity. To test the pipeline and not the model, each row's
config resolves to the one its cells were stored with (their ``config.json``). The table's statistics
columns changed with issue 22 on purpose; the per-row means are compared with the table c9f8cf2 wrote."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pandas as pd
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
    written_by_c9f8cf2 = pd.read_csv(workdir / "reports" / "table2" / "table.csv")

    def no_training(*args, **kwargs):
        raise AssertionError("a stored cell was retrained")

    monkeypatch.setattr("benchmark.engine.train_model", no_training)
    configs, fingerprints = stored_configs(workdir)
    monkeypatch.setattr("benchmark.variants.resolve_config", lambda model, variant, overrides=None: configs[variant])
    monkeypatch.setattr("reports.build.suite_config_fingerprint", lambda row: fingerprints.get(row.label, "new row"))
    rows = [arg for label in fingerprints for arg in ("--row", label)]
    assert main(["run", *ARGS, *rows, "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert out.count("[skip]") == 24 and "[done]" not in out and "[redo]" not in out
    assert main(["report", "--suite", "table2", "--workdir", str(workdir)]) == 0  # rebuilt from the store
    now = pd.read_csv(workdir / "reports" / "table2" / "table.csv")
    key = ["row", "column"]
    old = written_by_c9f8cf2.dropna(subset=["mean"]).set_index(key)["mean"]
    new = now.dropna(subset=["mean"]).set_index(key)["mean"]
    assert len(old) == 48 and new.loc[old.index].round(6).tolist() == old.round(6).tolist()


def stored_configs(workdir: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """variant -> the config dict its cells were stored with; row label -> its suite config fingerprint."""
    import json

    from benchmark.tracking import Tracker
    tracker = Tracker(workdir)
    configs: dict[str, dict] = {}
    fingerprints: dict[str, str] = {}
    for run in tracker.cell_runs("table2"):
        stored = json.loads((tracker.artifact_path(run) / "config.json").read_text())
        assert configs.setdefault(stored["variant"], stored["config"]) == stored["config"]
        fingerprints[run.data.tags["row"]] = run.data.tags["suite_config_fingerprint"]
    return configs, fingerprints
