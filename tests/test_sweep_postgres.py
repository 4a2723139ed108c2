"""A sweep against a real PostgreSQL server (workers on several machines share such a database):
the server is initialised and started in a temporary folder by the test and stopped afterwards."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import optuna
import pytest

from benchmark import sweep
from benchmark.cli import main

psycopg2 = pytest.importorskip("psycopg2", reason="psycopg2 is not installed (pip install psycopg2-binary)")


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def postgres_url():
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install -y postgresql)")
    prefix: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))  # under /tmp: reachable by an unprivileged user
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as 'nobody'
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: cannot start postgres as an unprivileged user")
        user = pwd.getpwnam("nobody")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = [runuser, "-u", "nobody", "--"]
    data, port = root / "data", _free_port()
    run = lambda *cmd: subprocess.run([*prefix, *map(str, cmd)], check=True, capture_output=True, text=True,
                                      timeout=120, cwd=root)
    try:
        run(bindir / "initdb", "-D", data, "-U", "bench", "-A", "trust", "--no-sync")
        run(bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "60", "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc.stderr}\n{log}")
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="bench", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE optuna")
        conn.close()
        yield f"postgresql+psycopg2://bench@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


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
