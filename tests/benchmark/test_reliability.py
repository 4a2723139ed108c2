"""Reliability matrix: a run survives its own processes (real kill -9 of workers and parents)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataclasses import dataclass

from benchmark.executors import ProcessExecutor, describe_exit, die_with_parent
from benchmark.training import CellOutcome

REPO = Path(__file__).resolve().parents[2]


# fake cells: module-level, so spawned workers import them -----------------------------------------
@dataclass(frozen=True)
class FakeJob:
    """What the executor reads of a cell (its name) plus what ``fake_cell`` needs."""

    name: str
    key: str
    options: dict


def fake_cell(job: FakeJob) -> CellOutcome:
    """``job.options``: {"mode": ok | die-once | die-always | raise, "marker": folder}."""
    mode, marker = job.options["mode"], Path(job.options["marker"])
    (marker / f"{job.key}.{os.getpid()}.{time.monotonic_ns()}").touch()  # one file per attempt
    if mode == "die-always" or (mode == "die-once" and len(list(marker.glob(f"{job.key}.*"))) == 1):
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "raise":
        raise SystemExit("a cell that calls exit()")
    time.sleep(0.2)
    return CellOutcome(ok=True, seconds=0.2, error=str(os.getpid()))


def _jobs(tmp_path, modes: list[str]) -> list[tuple[FakeJob, None]]:
    return [(FakeJob(name=f"cell {i} ({mode})", key=f"k{i}", options={"mode": mode, "marker": str(tmp_path)}), None)
            for i, mode in enumerate(modes)]


def _run(executor: ProcessExecutor, jobs) -> tuple[dict[str, CellOutcome], list[str], list[str]]:
    started, said, done = [], [], {}
    executor.say = said.append
    executor.run(jobs, start=lambda job: started.append(job.key) or f"run-{job.key}",
                 finish=lambda job, handle, outcome: done.__setitem__(handle, outcome), live=lambda handle: {})
    return done, started, said


def test_a_dead_worker_costs_only_its_cell_and_is_retried_once(tmp_path):
    jobs = _jobs(tmp_path, ["ok", "die-once", "ok", "ok", "ok"])
    done, started, said = _run(ProcessExecutor(2, target=fake_cell), jobs)
    assert sorted(done) == [f"run-k{i}" for i in range(5)]
    assert all(o.ok for o in done.values()), {k: o.error for k, o in done.items()}
    assert sorted(started) == [f"k{i}" for i in range(5)]  # the retried cell keeps its run: one start each
    retried = done["run-k1"].retried
    assert len(retried) == 1 and "was killed by SIGKILL (signal 9" in retried[0]
    assert [o.retried for k, o in done.items() if k != "run-k1"] == [[]] * 4
    assert any(line.startswith("[retry] cell 1 (die-once): worker process ") and "attempt 2 of 2" in line
               for line in said), said


def test_a_cell_whose_worker_keeps_dying_is_failed_with_the_signal(tmp_path):
    jobs = _jobs(tmp_path, ["die-always", "ok", "ok"])
    done, _, said = _run(ProcessExecutor(2, retries=1, target=fake_cell), jobs)
    dead = done["run-k0"]
    assert not dead.ok and dead.error.startswith("worker process ")
    assert "was killed by SIGKILL (signal 9; out of memory or kill -9?) while training the cell (after 2 " \
           "attempts: worker process " in dead.error
    assert len(dead.retried) == 1 and len(list(tmp_path.glob("k0.*"))) == 2
    assert done["run-k1"].ok and done["run-k2"].ok
    # --retries 0: failed at the first death, no retry line
    for f in tmp_path.glob("k0.*"):
        f.unlink()
    done, _, said = _run(ProcessExecutor(2, retries=0, target=fake_cell), _jobs(tmp_path, ["die-always", "ok"]))
    assert not done["run-k0"].ok and "after" not in done["run-k0"].error and not any("[retry]" in s for s in said)
    assert done["run-k1"].ok and len(list(tmp_path.glob("k0.*"))) == 1


def test_an_exception_outside_the_cell_handler_fails_the_cell_not_the_worker(tmp_path):
    done, _, _ = _run(ProcessExecutor(1, retries=0, target=fake_cell), _jobs(tmp_path, ["raise", "ok"]))
    assert not done["run-k0"].ok and done["run-k0"].error == "SystemExit: a cell that calls exit()"
    assert done["run-k1"].ok and not done["run-k0"].retried


def test_exit_status_in_words():
    assert describe_exit(-9) == "was killed by SIGKILL (signal 9; out of memory or kill -9?)"
    assert describe_exit(-15) == "was killed by SIGTERM (signal 15)"
    assert describe_exit(3) == "exited with code 3"


def _orphan_child(kernel: bool, ready) -> None:
    die_with_parent(os.getppid(), poll_seconds=0.2, kernel=kernel)
    ready.set()
    time.sleep(120)


def _middle(kernel: bool, pid_file: str) -> None:
    """A parent that starts one watched child, writes its pid, and waits to be killed."""
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(target=_orphan_child, args=(kernel, ready))
    child.start()
    ready.wait(60)
    Path(pid_file).write_text(str(child.pid))
    time.sleep(120)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has died; it only waits for its (new) parent to reap it


@pytest.mark.parametrize("kernel", [True, False], ids=["prctl", "watchdog"])
def test_a_worker_dies_with_its_parent(tmp_path, kernel):
    if kernel and not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux only")
    pid_file = tmp_path / "child.pid"
    middle = multiprocessing.get_context("spawn").Process(target=_middle, args=(kernel, str(pid_file)))
    middle.start()
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and middle.is_alive(), "the watched child never started"
        time.sleep(0.1)
    child = int(pid_file.read_text())
    assert _alive(child)
    os.kill(middle.pid, signal.SIGKILL)
    middle.join()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), f"worker {child} outlived its parent by 10 s"


# real `bench run` processes ----------------------------------------------------------------------
RUN = ["run", "--suite", "table2", "--row", "COOLANT", "--row", "w/o ITM", "--dataset", "twitter", "--limit", "40",
       "--max-epochs", "1", "--seeds", "2", "--device", "cpu", "--jobs", "2"]


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of the live processes whose parent is ``pid``."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return out


def _workers(pid: int) -> list[int]:
    return [child for child, cmd in _children(pid).items() if "spawn_main" in cmd and "resource_tracker" not in cmd]


class _Bench:
    """``bench`` in a subprocess whose output is collected line by line as it comes."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        import threading
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", **(env or {}),
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        environment.pop("BENCH_DATA_ROOT", None)
        self.process = subprocess.Popen([sys.executable, "-m", "benchmark.cli", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env=environment)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self._reader.start()

    def wait_for(self, condition, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.process.kill()
        pytest.fail(f"{what} within {timeout:.0f} s:\n" + "".join(self.lines)[-3000:])

    def finish(self, timeout: float) -> str:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail("bench did not end:\n" + "".join(self.lines)[-3000:])
        self._reader.join(10)
        return "".join(self.lines)


@pytest.mark.slow
def test_kill_9_of_one_worker_retries_its_cell_and_the_run_finishes(tmp_path):
    from benchmark.tracking import Tracker
    run = _Bench(*RUN, "--workdir", str(tmp_path))
    workers = run.wait_for(lambda: len(_workers(run.process.pid)) == 2 and any(
        line.startswith("[cell]") for line in run.lines) and _workers(run.process.pid), 600, "no two workers")
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    output = run.finish(600)
    assert run.process.returncode == 0, output
    assert f"worker process {victim} was killed by SIGKILL (signal 9; out of memory or kill -9?); training the " \
           "cell again (attempt 2 of 2)" in output
    assert "[run] suite table2 finished" in output and "0 failed cell(s)" in output
    assert (tmp_path / "reports" / "table2" / "table.md").is_file()
    runs = Tracker(tmp_path).cell_runs("table2", statuses=("FINISHED", "FAILED", "KILLED", "RUNNING"))
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 4
    retried = [r for r in runs if r.data.tags.get("retries")]
    assert len(retried) == 1 and f"worker process {victim} was killed by SIGKILL" in retried[0].data.tags["retry_reasons"]


@pytest.mark.slow
def test_kill_9_of_the_parent_takes_its_workers_along_and_doctor_closes_its_runs(tmp_path):
    run = _Bench(*RUN, "--workdir", str(tmp_path))
    run.wait_for(lambda: len(_workers(run.process.pid)) == 2, 600, "no two workers")
    family = list(_children(run.process.pid))  # the workers and multiprocessing's resource tracker
    run.process.kill()
    run.finish(30)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in family if _alive(pid)], "processes outlived the killed `bench run` by 10 s"
    doctor = _Bench("doctor", "--workdir", str(tmp_path))
    said = doctor.finish(120)
    assert doctor.process.returncode == 1 and f"left RUNNING by process {run.process.pid}" in said
    assert "[table2] suite run table2 " in said  # the invocation's own run, not only its cells


# the environment fails: one line each, exit 2, nothing secret ------------------------------------------
ONE = ["run", "--suite", "table2", "--row", "COOLANT", "--dataset", "twitter", "--limit", "40", "--max-epochs", "1",
       "--seeds", "1", "--device", "cpu", "--jobs", "1"]
PLANTED = "PLANTEDPW7c1e"


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_real_full_disk_is_one_line_and_exit_2(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 1 MB tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        run = _Bench(*ONE, "--workdir", str(mount / "w"))
        output = run.finish(600)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    assert run.process.returncode == 2, output
    assert f"bench: no space left on the device holding {mount / 'w'}" in output
    assert "Traceback" not in output


def test_an_unreachable_server_is_one_masked_line_and_debug_shows_a_masked_traceback(tmp_path, capsys, monkeypatch):
    from benchmark.cli import main
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://bench:{PLANTED}@127.0.0.1:{_free_port()}"
    assert main(["report", "--suite", "table2", "--workdir", str(tmp_path), "--tracking-uri", uri]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines()[-1].startswith(
        f"bench: cannot reach http://bench:***@127.0.0.1:{uri.rsplit(':', 1)[1]} (")
    assert "Traceback" not in captured.err + captured.out and PLANTED not in captured.err + captured.out
    assert main(["--debug", "report", "--suite", "table2", "--workdir", str(tmp_path), "--tracking-uri", uri]) == 2
    captured = capsys.readouterr()
    assert "Traceback (most recent call last)" in captured.err and PLANTED not in captured.err + captured.out


def test_a_missing_driver_is_one_masked_line(tmp_path, capsys, monkeypatch):
    from benchmark.cli import main
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # as if psycopg2 were not installed
    uri = f"postgresql+psycopg2://bench:{PLANTED}@127.0.0.1:{_free_port()}/mlflow"
    assert main(["report", "--suite", "table2", "--workdir", str(tmp_path), "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("bench: postgresql+psycopg2://bench:***@127.0.0.1:" + uri.rsplit(":", 1)[1]
                           + " needs the database driver psycopg2, which is not installed: pip install "
                           "psycopg2-binary (or use an http:// tracking server, or leave the URI out for the work "
                           "directory's SQLite store)")


@pytest.mark.slow
def test_a_file_where_the_feature_cache_belongs_is_one_line(tmp_path, capsys, monkeypatch):
    from benchmark.cli import main
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    (tmp_path / "features").write_text("a file, not the cache folder")
    assert main([*ONE, "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"bench: {tmp_path / 'features'} is a file, but a folder is needed there (to create {tmp_path / 'features'}" \
        in err and "Traceback" not in err


@pytest.fixture()
def mlflow_server(tmp_path):
    """A plain ``mlflow server`` (SQLite backend): it ignores the credentials the client sends."""
    port = _free_port()
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                               "--default-artifact-root", str(tmp_path / "server-artifacts"), "--no-serve-artifacts",
                               "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    import urllib.request
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(1)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()


def _grep(root: Path, secret: str) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and secret.encode() in path.read_bytes():
            hits.append(str(path))
    return hits


@pytest.mark.slow
def test_a_planted_password_is_nowhere_in_what_runs_print_or_store(tmp_path, mlflow_server):
    """A succeeding run and a failing one with credentials in --tracking-uri (workers on, --jobs 2):
    the password is in no output, no stored file, no worker's command line."""
    good = f"http://bench:{PLANTED}@127.0.0.1:{mlflow_server}"
    bad = f"http://bench:{PLANTED}@127.0.0.1:{_free_port()}"
    work = tmp_path / "w"
    run = _Bench(*ONE[:-2], "--jobs", "2", "--seeds", "2", "--workdir", str(work), "--tracking-uri", good,
                 env={"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "false"})  # MLflow's own URL lines on: masked
    seen = run.wait_for(lambda: _workers(run.process.pid), 600, "no worker started")
    commands = [(Path(f"/proc/{pid}/cmdline").read_bytes() if _alive(pid) else b"") for pid in seen]
    output = run.finish(600)
    assert run.process.returncode == 0, output
    assert "View run" in output and "http://bench:***@127.0.0.1" in output  # MLflow printed it, masked
    failed = _Bench(*ONE, "--workdir", str(tmp_path / "w2"), "--tracking-uri", bad,
                    env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    failed_output = failed.finish(300)
    assert failed.process.returncode == 2 and "cannot reach http://bench:***@" in failed_output
    assert PLANTED not in output + failed_output
    assert not any(PLANTED.encode() in command for command in commands)
    assert _grep(tmp_path, PLANTED) == []  # work directories, the server's store and artifacts, logs
