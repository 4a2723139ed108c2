"""MLflow tracking: SQLite store in the work dir, cell lookup for resume, orphaned RUNNING runs."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from benchmark.tracking import Tracker, tracking_uri


def test_store_is_an_explicit_sqlite_file_in_the_workdir(tmp_path):
    tracker = Tracker(tmp_path)
    assert tracking_uri(tmp_path) == f"sqlite:///{(tmp_path / 'mlflow.db').resolve().as_posix()}"
    tracker.experiment_id("demo")
    assert (tmp_path / "mlflow.db").is_file()


def test_finished_cell_lookup_matches_key_and_config(tmp_path):
    tracker = Tracker(tmp_path)
    parent = tracker.start_parent("demo", {"suite": "demo"}, {"seeds": 1})
    run = tracker.start_cell("demo", parent, "cell", {"cell_key": "k1", "config_fingerprint": "c1"})
    assert tracker.finished_cell("demo", "k1", "c1") is None  # still RUNNING
    tracker.end(run)
    assert tracker.finished_cell("demo", "k1", "c1").info.run_id == run
    assert tracker.finished_cell("demo", "k1", "c2") is None  # config changed -> retrain
    assert tracker.finished_cell("other", "k1", "c1") is None


def test_runs_left_running_by_a_killed_process_are_closed(tmp_path):
    tracker = Tracker(tmp_path)
    parent = tracker.start_parent("demo", {"suite": "demo"}, {})
    run = tracker.start_cell("demo", parent, "cell", {})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tracker.set_tags(run, {"pid": str(dead.pid)})
    tracker.start_parent("demo", {"suite": "demo"}, {})  # a new invocation cleans up
    info = tracker.client.get_run(run).info
    assert info.status == "KILLED"
    assert tracker.client.get_run(parent).info.status == "RUNNING"  # our own pid: alive, untouched


def test_artifacts_round_trip(tmp_path):
    tracker = Tracker(tmp_path)
    parent = tracker.start_parent("demo", {"suite": "demo"}, {})
    run = tracker.start_cell("demo", parent, "cell", {"kind": "cell"})
    frame = pd.DataFrame({"item_id": ["a", "b"], "y_true": [1, 0], "y_pred": [1, 1], "p_fake": [0.9, 0.6]})
    tracker.log_files(run, {"predictions.csv": frame, "config.json": {"lr": 0.001}})
    tracker.end(run)
    folder = tracker.artifact_path(tracker.client.get_run(run))
    assert pd.read_csv(folder / "predictions.csv").equals(frame)
    assert folder.is_relative_to(tmp_path.resolve())
