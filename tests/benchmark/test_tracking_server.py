"""Many writers: ``bench run --tracking-uri`` against a real ``mlflow server`` with a PostgreSQL backend
store and an artifact root on (here: local, in a cluster: shared) storage; the report is rebuilt from
the server alone and a second run skips the finished cells it finds there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.tracking import Tracker

sys.path.insert(0, str(Path(__file__).parents[1]))
from postgres_server import free_port, postgres  # noqa: E402,F401  (fixture)

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow

ARGS = ["--suite", "table2", "--row", "COOLANT", "--dataset", "twitter", "--seeds", "1", "--limit", "60",
        "--max-epochs", "1", "--device", "cpu"]


@pytest.fixture()
def mlflow_server(postgres, tmp_path):
    backend = postgres.create_database("mlflow")
    port, artifacts = free_port(), tmp_path / "shared-artifacts"
    log = open(tmp_path / "mlflow-server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", backend, "--default-artifact-root", str(artifacts),
                               "--no-serve-artifacts", "--workers", "1"], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not come up within 180 s:\n"
                            + (tmp_path / "mlflow-server.log").read_text(errors="replace")[-3000:])
            time.sleep(1)
        yield url, artifacts
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=30)
        log.close()


def test_run_and_report_through_a_tracking_server(mlflow_server, tmp_path, capsys):
    url, artifacts = mlflow_server
    work = tmp_path / "work"
    assert main(["run", *ARGS, "--workdir", str(work), "--tracking-uri", url, "--jobs", "1"]) == 0
    assert not (work / "mlflow.db").exists()  # nothing went to the local SQLite store
    assert list(artifacts.rglob("predictions.csv"))  # artifacts under the server's (shared) root
    table = work / "reports" / "table2" / "table.md"
    first = table.read_text()
    shutil.rmtree(work / "reports")
    assert main(["report", "--suite", "table2", "--workdir", str(work), "--tracking-uri", url]) == 0
    assert table.read_text() == first
    assert "BENCH_TRACKING_URI" not in os.environ  # --tracking-uri holds for its command only
    runs = Tracker(work, tracking_uri=url).cell_runs("table2", statuses=("FINISHED",))
    assert len(runs) == 1 and runs[0].data.tags["row"] == "COOLANT"

    # $BENCH_TRACKING_URI selects the server too; a new work directory finds the cell finished there
    other = tmp_path / "other"
    os.environ["BENCH_TRACKING_URI"] = url
    try:
        capsys.readouterr()
        assert main(["run", *ARGS, "--workdir", str(other), "--jobs", "1"]) == 0
    finally:
        del os.environ["BENCH_TRACKING_URI"]
    assert "[skip] COOLANT | Twitter | seed 0: finished earlier" in capsys.readouterr().out
    assert not (other / "mlflow.db").exists() and (other / "reports" / "table2" / "table.md").is_file()
