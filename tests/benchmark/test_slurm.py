"""``--executor slurm`` against a real single-node Slurm (munged, slurmctld, slurmd started by the test).

Checks: every cell finishes through Slurm jobs; the stored predictions equal an ``--executor inline
--jobs 1`` run of the same cells; jobs killed with ``scancel`` become FAILED cells naming their job
and log, and re-running the same command trains exactly those cells again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.tracking import Tracker

sys.path.insert(0, str(Path(__file__).parents[1]))
from slurm_cluster import SlurmCluster, missing_binaries  # noqa: E402

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow

pytest.importorskip("submitit", reason="submitit is not installed (pip install submitit)")

ARGS = ["run", "--suite", "table2", "--row", "COOLANT", "--row", "w/o ITM", "--dataset", "twitter",
        "--seeds", "1", "--limit", "60", "--max-epochs", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def slurm():
    missing = missing_binaries()
    if missing:
        pytest.skip(f"Slurm/munge binaries not found: {', '.join(missing)} (apt-get install -y slurm-wlm munge)")
    if os.geteuid() != 0:
        pytest.skip("the test cluster runs slurmd as root; run the tests as root")
    saved = os.environ.get("SLURM_CONF")
    cluster = SlurmCluster(Path(tempfile.mkdtemp(prefix="bench-slurm-")))
    try:
        cluster.start(timeout=60)
        yield cluster
    finally:
        cluster.stop()
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved


def _bench(workdir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-m", "benchmark.cli", *ARGS, "--workdir", str(workdir),
                             "--executor", "slurm", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def _output(process: subprocess.Popen, timeout: float) -> str:
    """The command's output once it ends; killed (and the test failed) if it runs past ``timeout``."""
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"bench run did not end within {timeout:.0f} s:\n{process.communicate()[0][-3000:]}")


def _queue() -> dict[str, str]:
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True, timeout=30)
    return dict(line.split() for line in out.stdout.splitlines() if line.strip())


def _cells(workdir: Path) -> dict[tuple[str, str], object]:
    """FINISHED cells by (row, seed)."""
    return {(r.data.tags["row"], r.data.tags["seed"]): r
            for r in Tracker(workdir).cell_runs("table2", statuses=("FINISHED",))}


def test_slurm_cells_match_inline_and_killed_jobs_rerun(slurm, tmp_path):
    work = tmp_path / "slurm"
    # 1) one job at a time; once the first job runs, scancel the whole array: both cells die
    first = _bench(work, "--slurm-array-parallelism", "1")
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and "RUNNING" not in _queue().values():
        assert first.poll() is None, first.communicate()[0]
        time.sleep(0.3)
    queue = _queue()
    if "RUNNING" not in queue.values():
        first.kill()
        pytest.fail(f"no cell job started within 150 s: {queue}\n{slurm.logs()}")
    array = next(iter(queue)).split("_")[0]
    subprocess.run(["scancel", array], check=True, timeout=30)
    output = _output(first, 180)
    assert first.returncode == 1, output
    runs = Tracker(work).cell_runs("table2", statuses=("FAILED",))
    assert runs, output
    for run in runs:
        tags = run.data.tags
        assert tags["executor.job_id"].startswith(f"{array}_") and "slurm-logs" in tags["executor.log"]
        assert f"Slurm job {tags['executor.job_id']} ended without a result" in tags["error"]
        logged = {p.name for p in Tracker(work).artifact_path(run).iterdir()}
        on_disk = [Path(p) for p in tags["executor.log"].split() if Path(p).is_file()]
        assert {p.name for p in on_disk} <= logged  # a log the job got to write is attached
    assert all(Path(p).parent == (work / "slurm-logs").resolve() for p in runs[0].data.tags["executor.log"].split())

    # 2) the same command again: only the cells without a finished run are submitted, and finish
    again = _bench(work)
    output = _output(again, 240)
    assert again.returncode == 0, output
    assert f"[run] {len(runs)} cell(s) on slurm" in output
    cells = _cells(work)
    assert set(cells) == {("COOLANT", "0"), ("w/o ITM", "0")}

    # 3) the same cells inline on one thread give the same predictions: identical labels, and
    #    probabilities equal to float32 rounding (a Slurm job pinned to one CPU may take another GEMM
    #    blocking than a process that sees both cores; seen once at 1e-6)
    #    Featurising runs on one thread here too, as the submission did (OMP_NUM_THREADS=1): features
    #    computed on another thread count differ in the last bits, which the reports' Features line shows
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main([*ARGS, "--workdir", str(tmp_path / "inline"), "--executor", "inline", "--jobs", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    inline = _cells(tmp_path / "inline")
    for key, run in cells.items():
        ours = pd.read_csv(Tracker(work).artifact_path(run) / "predictions.csv")
        theirs = pd.read_csv(Tracker(tmp_path / "inline").artifact_path(inline[key]) / "predictions.csv")
        pd.testing.assert_frame_equal(ours.drop(columns="p_fake"), theirs.drop(columns="p_fake"), check_exact=True,
                                      obj=str(key))
        assert (ours["p_fake"] - theirs["p_fake"]).abs().max() < 1e-5, key
    table = (work / "reports" / "table2" / "table.md").read_text().split("\n")[2:]
    assert table == (tmp_path / "inline" / "reports" / "table2" / "table.md").read_text().split("\n")[2:]
    assert any(line.startswith("- Features: twitter: ") and "not recorded" not in line for line in table)


def test_slurm_flags_need_the_slurm_executor(tmp_path, capsys):
    with pytest.raises(SystemExit, match="--slurm-partition only apply with --executor slurm"):
        main([*ARGS, "--workdir", str(tmp_path), "--slurm-partition", "gpu"])
    with pytest.raises(SystemExit, match="expected key=value"):
        main([*ARGS, "--workdir", str(tmp_path), "--executor", "slurm", "--slurm-param", "mem"])


def test_ctrl_c_cancels_the_submitted_jobs_and_closes_their_cells(slurm, tmp_path):
    run = _bench(tmp_path, "--slurm-array-parallelism", "1")
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not _queue():
        assert run.poll() is None, run.communicate()[0]
        time.sleep(0.3)
    assert _queue(), "no cell job was submitted within 150 s"
    run.send_signal(signal.SIGINT)
    output = _output(run, 60)
    assert run.returncode == 130, output
    deadline = time.monotonic() + 30  # scancel'd jobs leave the queue after KillWait
    while _queue() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _queue() == {}, "jobs of an interrupted run must not go on training"
    assert sorted(r.info.status for r in Tracker(tmp_path).cell_runs("table2", statuses=("KILLED",))) == ["KILLED"] * 2
