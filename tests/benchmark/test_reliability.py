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

from benchmark.executors import CellJob, CellOutcome, ProcessExecutor, describe_exit, die_with_parent

REPO = Path(__file__).resolve().parents[2]


# fake cells: module-level, so spawned workers import them -----------------------------------------
def fake_cell(job: CellJob) -> CellOutcome:
    """``job.options``: {"mode": ok | die-once | die-always | raise, "marker": folder}."""
    mode, marker = job.options["mode"], Path(job.options["marker"])
    (marker / f"{job.key}.{os.getpid()}.{time.monotonic_ns()}").touch()  # one file per attempt
    if mode == "die-always" or (mode == "die-once" and len(list(marker.glob(f"{job.key}.*"))) == 1):
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "raise":
        raise SystemExit("a cell that calls exit()")
    time.sleep(0.2)
    return CellOutcome(ok=True, seconds=0.2, error=str(os.getpid()))


def _jobs(tmp_path, modes: list[str]) -> list[tuple[CellJob, None]]:
    return [(CellJob(name=f"cell {i} ({mode})", dataset="d", options={"mode": mode, "marker": str(tmp_path)},
                     limit=None, model="m", config=None, seed=i, key=f"k{i}"), None)
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
