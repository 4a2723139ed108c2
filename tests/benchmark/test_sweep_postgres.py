"""A sweep against a real PostgreSQL server (workers on several machines share such a database):
the server is initialised and started in a temporary folder by the test and stopped afterwards."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest

from benchmark import sweep_storage as sweep
from benchmark.cli import main

sys.path.insert(0, str(Path(__file__).parents[1]))
from postgres_server import postgres  # noqa: E402,F401  (fixture)

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow


@pytest.fixture()
def postgres_url(postgres):
    return postgres.create_database("optuna")


def test_sweep_on_postgresql(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    args = ["sweep", "--model", "text_only", "--dataset", "synthetic-tiny", "--limit", "12", "--max-epochs", "2",
            "--device", "cpu", "--trials", "2", "--study", "pg", "--storage", postgres_url,
            "--workdir", str(tmp_path)]
    assert main(args) == 0
    assert main(args) == 0  # resumed: both trials are done, nothing new runs
    study = optuna.load_study(study_name="pg", storage=postgres_url)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert sweep.ClaimLock(postgres_url, "pg").kind == "postgresql"
    assert not (tmp_path / "optuna.db").exists()  # the study lives in PostgreSQL only
    summary = (tmp_path / "sweeps" / "pg.json").read_text()
    assert '"storage": "postgresql+psycopg2://bench@127.0.0.1' in summary
