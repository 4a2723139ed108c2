"""The MLflow UI as a researcher meets it, in a real headless browser (Debian's chromium): `bench ui`'s
URL lands on the runs of the experiment in model-training mode, not on the GenAI traces page."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmark.cli import main, ui_url
from benchmark.tracking import Tracker

pytestmark = [pytest.mark.slow,  # starts an MLflow server and a browser: after the fast part
              pytest.mark.skipif(shutil.which("chromium") is None,
                                 reason="chromium not installed (Debian: apt-get install chromium)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dom(url: str) -> str:
    out = subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1000",
                          "--virtual-time-budget=15000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    return out.stdout


def test_ui_lands_on_model_training_runs(tmp_path):
    assert main(["run", "--suite", "table2", "--row", "COOLANT", "--dataset", "twitter", "--seeds", "1",
                 "--limit", "60", "--max-epochs", "1", "--device", "cpu", "--jobs", "1",
                 "--workdir", str(tmp_path)]) == 0
    exp = Tracker(tmp_path).experiment_id("table2", create=False)
    port = _free_port()
    ui = subprocess.Popen([sys.executable, "-m", "benchmark.cli", "ui", "--workdir", str(tmp_path), "--port", str(port)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                assert time.time() < deadline and ui.poll() is None, "the MLflow UI did not start"
                time.sleep(1)
        dom = _dom(ui_url(port).replace("#/experiments?", f"#/experiments/{exp}?"))
        assert "Model training" in dom and "matching runs" in dom  # the runs table, not the traces page
        assert "table2 " in dom  # the invocation's run, expandable to its cells
        assert "No data available" not in dom
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=60)
