"""`bench sweep` as real processes: a worker SIGKILLed mid-trial is recovered on re-run, and two
worker processes on one journal-file study finish exactly N distinct trials."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from benchmark import sweep_storage as sweep
from benchmark.tracking import Tracker

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BASE = ["--model", "text_only", "--dataset", "synthetic-tiny", "--limit", "12", "--device", "cpu"]


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """Feature cache and synthetic images shared by the sweep workdirs (encoded once per session)."""
    root = tmp_path_factory.mktemp("sweep-cache")
    (root / "features").mkdir()
    (root / "synthetic").mkdir()
    return root


@pytest.fixture()
def workdir(tmp_path, shared_cache) -> Path:
    for name in ("features", "synthetic"):
        (tmp_path / name).symlink_to(shared_cache / name)
    return tmp_path


def bench(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmark.cli", "sweep", *BASE, *args]


def env() -> dict[str, str]:
    return {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": str(REPO)}


def sql_states(db: Path) -> list[str]:
    if not db.is_file():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return [row[0] for row in conn.execute("SELECT state FROM trials ORDER BY number")]
    except sqlite3.OperationalError:  # tables not created yet
        return []


def running_with_params(db: Path, n_params: int = 3) -> bool:
    """A trial is RUNNING and all its ``n_params`` sampled parameters (text_only: lr, batch_size,
    dropout) are stored: the worker is training. Killed while it is still sampling, the trial would
    hold only some of them and its retry would sample the rest."""
    if not db.is_file():
        return False
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            rows = conn.execute("SELECT COUNT(*) FROM trials t JOIN trial_params p ON p.trial_id = t.trial_id "
                                "WHERE t.state = 'RUNNING' GROUP BY t.trial_id").fetchall()
            return any(count >= n_params for (count,) in rows)
    except sqlite3.OperationalError:  # tables not created yet
        return False


def test_killed_worker_is_recovered_and_rerun_completes_the_study(workdir):
    cmd = bench("--trials", "3", "--study", "killed", "--workdir", str(workdir), "--max-epochs", "40",
                "--heartbeat-interval", "1", "--grace-period", "2")
    log = open(workdir / "first.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=log, stderr=subprocess.STDOUT)
    db = workdir / "optuna.db"
    deadline = time.time() + 240
    while time.time() < deadline and not running_with_params(db) and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = sql_states(db)
    assert "RUNNING" in before, f"no trial was running when the worker was killed: {before}; " \
                                f"log: {(workdir / 'first.log').read_text()[-2000:]}"
    killed = before.index("RUNNING")
    rerun = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=480)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    after = sql_states(db)
    assert after.count("COMPLETE") == 3 and "RUNNING" not in after, after
    study = optuna.load_study(study_name="killed", storage=sweep.sqlite_url(workdir))
    assert study.trials[killed].state == optuna.trial.TrialState.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state == optuna.trial.TrialState.COMPLETE
    assert retries[0].params == study.trials[killed].params


def test_two_worker_processes_share_one_journal_study(workdir):
    cmd = bench("--trials", "4", "--study", "pair", "--workdir", str(workdir), "--max-epochs", "2",
                "--workers", "2")
    done = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (workdir / "optuna-journal.log").is_file() and not (workdir / "optuna.db").exists()
    study = optuna.load_study(study_name="pair", storage=sweep.open_storage(sweep.journal_url(workdir)))
    finished = [t for t in study.trials if t.state in sweep.DONE_STATES]
    assert len(finished) == 4 and len(study.trials) == 4
    assert sorted(t.number for t in finished) == [0, 1, 2, 3]
    # one MLflow run per trial, nested under the study's parent run: nothing lost or duplicated
    tracker = Tracker(workdir)
    exp = tracker.experiment_id("sweep", create=False)
    runs = tracker.client.search_runs([exp], filter_string="tags.kind = 'trial'")
    assert sorted(int(r.data.tags["trial"]) for r in runs) == [0, 1, 2, 3]
    parent = study.user_attrs["mlflow_parent_run"]
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parent}
    assert tracker.client.get_run(parent).data.tags["kind"] == "study"
    # both processes hashed the same cached features: one fingerprint for all trials
    (features,) = {r.data.tags["features_fingerprint"] for r in runs}
    assert len(features) == 16 and {r.data.tags["machine.cpu_isa"] for r in runs}


@pytest.mark.slow
@pytest.mark.realdata
def test_sweep_on_real_recovery_uses_the_split_policy_and_records_precision(shared_data, tmp_path):
    """The table3 sweep used to pool train+test and re-split them at random, leaking shared images and
    texts across the splits it reported; now a trial's data come from the split policy of `bench run`."""
    from benchmark.cli import main
    from benchmark.data.check import find_leaks
    from benchmark.data_params import apply_data_params
    from benchmark.loading import RunOptions, load_features, resolve_options
    from benchmark.registry import load_plugins

    load_plugins()
    if not (shared_data / "recovery").is_dir():
        pytest.skip(f"ReCOVery not found under {shared_data}")
    common = ["sweep", "--model", "text_only", "--dataset", "recovery", "--data-root", str(shared_data),
              "--limit", "60", "--max-epochs", "1", "--device", "cpu", "--precision", "bf16",
              "--workdir", str(tmp_path)]
    random_options = resolve_options(RunOptions(suite="t", data_root=shared_data, workdir=tmp_path, split="random"))
    from benchmark.loading import load_splits
    from benchmark.data.schema import DataError
    try:
        leaky = find_leaks(load_splits("recovery", dataclasses_replace(random_options, allow_leaks=True), 60,
                                       say=lambda m: None)[0])
    except DataError:
        leaky = []
    if leaky:  # the random split leaks here: the sweep refuses it as `bench run` does
        assert main([*common, "--split", "random", "--trials", "1", "--study", "leaky"]) == 2
    assert main([*common, "--split", "grouped", "--trials", "2", "--study", "rec"]) == 0
    study = optuna.load_study(study_name="rec", storage=sweep.sqlite_url(tmp_path))
    attrs = study.user_attrs
    assert attrs["precision"] == "bf16" and attrs["split"] == "grouped" and attrs["limit"] == 60
    assert set(attrs["encoders"]) == {"text", "image"} and "bf16" in attrs["encoders"]["text"]
    assert attrs["best_test"]["trial"] == study.best_trial.number  # test evaluated once, for the best
    options = resolve_options(RunOptions(suite="t", data_root=shared_data, workdir=tmp_path, split="grouped",
                                         precision="bf16"))
    splits, features = load_features("recovery", options, 60, say=lambda m: None)
    assert find_leaks(splits) == []
    for ratio in ("70:30", "90:10"):  # a trial's ratio changes how much of train it uses, nothing else
        used = apply_data_params(splits, features, {"train_test_ratio": ratio}, seed=0)
        assert used.test.item_ids == features.test.item_ids
        assert used.validation.item_ids == features.validation.item_ids
        assert set(used.train.item_ids) <= set(features.train.item_ids)


def dataclasses_replace(options, **changes):
    import dataclasses
    return dataclasses.replace(options, **changes)
