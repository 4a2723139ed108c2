"""What the MLflow UI shows: model-training experiments, short run names, single-value summaries,
no empty parent per no-op re-run, the tables on the parent run; `bench ui` stops its whole server."""

from __future__ import annotations

import pytest

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmark.cli import main
from benchmark.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, Tracker

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow

ARGS = ["run", "--suite", "table2", "--row", "COOLANT", "--dataset", "twitter", "--seeds", "1", "--limit", "60",
        "--max-epochs", "2", "--device", "cpu", "--jobs", "1"]


def test_store_reads_at_a_glance_in_the_ui(tmp_path, capsys):
    assert main([*ARGS, "--workdir", str(tmp_path)]) == 0
    tracker = Tracker(tmp_path)
    exp = tracker.client.get_experiment(tracker.experiment_id("table2", create=False))
    assert exp.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    (cell,) = tracker.cell_runs("table2")
    assert cell.info.run_name == "COOLANT twitter s0"
    history = tracker.client.get_metric_history(cell.info.run_id, "test_accuracy")
    assert [m.step for m in history] == [0]  # one value, not a point ahead of the epoch curves
    assert [m.step for m in tracker.client.get_metric_history(cell.info.run_id, "val_accuracy")] == [1, 2]
    parents = tracker.client.search_runs([exp.experiment_id], "tags.kind = 'suite'")
    assert len(parents) == 1 and parents[0].data.metrics["cells_trained"] == 1
    attached = {a.path for a in tracker.client.list_artifacts(parents[0].info.run_id)}
    assert {"table.md", "table.csv"} <= attached
    # a re-run that trains nothing leaves no empty parent behind
    assert main([*ARGS, "--workdir", str(tmp_path)]) == 0
    assert "[skip]" in capsys.readouterr().out
    assert len(tracker.client.search_runs([exp.experiment_id], "tags.kind = 'suite'")) == 1


def test_serve_stops_the_whole_server_process_group(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    server = ("import subprocess, sys, time; "
              f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
              f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(120)")
    wrapper = subprocess.Popen([sys.executable, "-c",
                                f"import sys; from benchmark.cli import serve; sys.exit(serve([sys.executable, '-c', {server!r}]))"],
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    deadline = time.time() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.time() < deadline, "the fake server did not start"
        time.sleep(0.2)
    grandchild = int(pid_file.read_text())
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=30) == 0
    time.sleep(0.5)
    try:
        os.kill(grandchild, 0)
        alive = Path(f"/proc/{grandchild}/stat").read_text().split()[2] != "Z"
    except ProcessLookupError:
        alive = False
    assert not alive, "a process of the server outlived `bench ui`"
