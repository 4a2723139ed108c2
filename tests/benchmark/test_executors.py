"""Executors: N one-thread worker processes give the same cells as one cell at a time on one thread."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.executors import (InlineExecutor, ProcessExecutor, SlurmExecutor, SlurmOptions, make_executor,
                                 parse_slurm_params)
from benchmark.tracking import Tracker

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow


def test_make_executor_defaults(monkeypatch):
    monkeypatch.setenv("BENCH_JOBS", "3")
    assert isinstance(make_executor(None, None), ProcessExecutor) and make_executor(None, None).jobs == 3
    one = make_executor(None, 1)
    assert isinstance(one, InlineExecutor) and one.threads == 1
    assert make_executor("inline", 4).threads is None  # all threads, one cell at a time
    assert make_executor("inline", 1).threads == 1  # the numbers of every other executor
    assert isinstance(make_executor(None, None, device="cuda"), InlineExecutor)
    slurm = make_executor("slurm", None, slurm=SlurmOptions(partition="gpu", gpus_per_cell=1, time_min=30))
    assert isinstance(slurm, SlurmExecutor) and "gpu, 30 min, 1 GPU(s)" in slurm.describe()
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("slurmish", 2)


def test_slurm_params_parse_and_name_a_malformed_item():
    assert parse_slurm_params(["mem=8G", "mail-type=END"]) == {"mem": "8G", "mail_type": "END"}
    with pytest.raises(ValueError, match="'qos': expected key=value"):
        parse_slurm_params(["qos"])


def _predictions(workdir):
    tracker = Tracker(workdir)
    out = {}
    for run in tracker.cell_runs("table2"):
        t = run.data.tags
        assert run.info.status == "FINISHED", t.get("error")
        out[(t["row"], t["dataset"], t["seed"])] = pd.read_csv(tracker.artifact_path(run) / "predictions.csv")
    return out


def test_two_workers_store_the_same_cells_as_one_thread_inline(tmp_path, capsys):
    args = ["run", "--suite", "table2", "--row", "COOLANT", "--row", "w/o ITM", "--dataset", "twitter",
            "--seeds", "1", "--limit", "60", "--max-epochs", "1", "--device", "cpu"]
    assert main([*args, "--workdir", str(tmp_path / "one"), "--jobs", "1"]) == 0
    assert main([*args, "--workdir", str(tmp_path / "two"), "--jobs", "2"]) == 0
    assert "[run] 2 cell(s) on 2 worker processes" in capsys.readouterr().out
    one, two = _predictions(tmp_path / "one"), _predictions(tmp_path / "two")
    assert set(one) == set(two) and len(one) == 2
    for key in one:
        pd.testing.assert_frame_equal(one[key], two[key], check_exact=True, obj=str(key))
    # epoch metrics replayed from the workers: the same per-epoch series in the store
    runs = {r.data.tags["row"] + r.data.tags["seed"]: r for r in Tracker(tmp_path / "two").cell_runs("table2")}
    assert all("train_loss_total" in r.data.metrics and "val_accuracy" in r.data.metrics for r in runs.values())


def test_a_cell_without_its_emotion_set_reads_not_available(tmp_path, monkeypatch, capsys):
    import benchmark.executors as executors
    from benchmark.emotion_set import EmotionSetUnavailable

    def no_emotion_set(*args, **kwargs):
        raise EmotionSetUnavailable(["data/unbiasedemo"])

    monkeypatch.setattr("benchmark.variants.build_model", no_emotion_set)
    args = ["run", "--suite", "table2", "--row", "COOLANT", "--dataset", "twitter", "--seeds", "1",
            "--limit", "60", "--max-epochs", "1", "--device", "cpu", "--workdir", str(tmp_path), "--jobs", "1"]
    assert main(args) == 0  # not a failure
    out = capsys.readouterr().out
    assert "[COOLANT | Twitter] not available: no emotion image set (looked for data/unbiasedemo)" in out
    assert "0 failed cell(s)" in out
    tracker = Tracker(tmp_path)
    assert tracker.cell_runs("table2", statuses=("FINISHED", "FAILED", "RUNNING", "KILLED")) == []
    table = (tmp_path / "reports" / "table2" / "table.md").read_text()
    assert "no emotion image set (looked for data/unbiasedemo)" in table
    assert executors.CellOutcome(ok=False).unavailable == ""


class _FinishedJob:
    """The part of a submitit job that ``_slurm_outcome`` reads: id, paths, result()."""

    def __init__(self, folder, result=None, error: Exception | None = None) -> None:
        from types import SimpleNamespace
        self.job_id = "42_3"
        self.paths = SimpleNamespace(result_pickle=folder / "42_3_0_result.pkl", stderr=folder / "42_3_0_log.err",
                                     stdout=folder / "42_3_0_log.out")
        self._result, self._error = result, error
        if result is not None or error is not None:
            self.paths.result_pickle.write_bytes(b"x")

    def result(self):
        if self._error is not None:
            raise self._error
        return self._result


def test_slurm_outcomes_name_the_job_and_its_log(tmp_path):
    from benchmark.executors import _slurm_outcome
    from benchmark.training import CellOutcome
    died = _slurm_outcome(_FinishedJob(tmp_path))
    assert not died.ok and died.job_id == "42_3" and "Slurm job 42_3 ended without a result" in died.error
    assert str(tmp_path / "42_3_0_log.err") in died.error and died.logs[0].endswith("42_3_0_log.err")
    crashed = _slurm_outcome(_FinishedJob(tmp_path, error=RuntimeError("Traceback ...\nPluginError: plugin x failed")))
    assert not crashed.ok and crashed.error.startswith("Slurm job 42_3 failed: PluginError: plugin x failed; log ")
    fine = _slurm_outcome(_FinishedJob(tmp_path, result=CellOutcome(ok=True, seconds=1.0)))
    assert fine.ok and fine.job_id == "42_3" and len(fine.logs) == 2
