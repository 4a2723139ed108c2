"""End to end through `bench` as a user runs it: smoke suite, resume, report from the store alone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.registry import MODELS, load_plugins
from benchmark.tracking import Tracker

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_workdir(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("bench-runs")
    with pytest.MonkeyPatch.context() as mp:  # no --data-root and no $BENCH_DATA_ROOT: synthetic data
        mp.delenv("BENCH_DATA_ROOT", raising=False)
        assert main(["run", "--suite", "smoke", "--workdir", str(workdir), "--device", "cpu"]) == 0
    return workdir


def test_smoke_trains_every_registered_model_once(smoke_workdir):
    load_plugins()
    runs = Tracker(smoke_workdir).cell_runs("smoke", statuses=("FINISHED", "FAILED", "RUNNING", "KILLED"))
    by_model = {r.data.tags["model"]: r for r in runs}
    assert set(by_model) == set(MODELS.names())
    for name, run in by_model.items():
        assert run.info.status == "FINISHED", f"{name}: {run.data.tags.get('error')}"
        tags = run.data.tags
        assert tags["data_source"] == "synthetic" and tags["WARNING"] == "synthetic data"
        for key in ("git_commit", "data_fingerprint", "encoder.text", "encoder.image", "version.torch",
                    "protocol", "config_fingerprint"):
            assert tags.get(key), f"{name}: tag {key} missing"
        assert "train_loss_total" in run.data.metrics and "test_accuracy" in run.data.metrics
        folder = Tracker(smoke_workdir).artifact_path(run)
        preds = pd.read_csv(folder / "predictions.csv")
        assert list(preds.columns) == ["item_id", "y_true", "y_pred", "p_fake", "cluster"]
        assert preds["p_fake"].between(0, 1).all()
        assert (folder / "config.json").is_file()


def test_rerun_skips_finished_cells(smoke_workdir, capsys, monkeypatch):
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    before = len(Tracker(smoke_workdir).cell_runs("smoke"))
    assert main(["run", "--suite", "smoke", "--workdir", str(smoke_workdir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("[skip]") == len(MODELS.names()) and "[cell]" not in out
    assert len(Tracker(smoke_workdir).cell_runs("smoke")) == before
    # nothing trained and nothing changed: the report on disk is kept, not redrawn
    assert "reports/smoke/ is up to date" in out


def test_report_is_rebuilt_when_its_inputs_change_and_curves_only_when_theirs_do(smoke_workdir, monkeypatch):
    import reports.build as build
    import reports.figures as figures

    drawn = []
    real = figures.training_curves

    def counting(history, stem, **kw):
        drawn.append(Path(stem).name)
        return real(history, stem, **kw)

    monkeypatch.setattr(figures, "training_curves", counting)
    table = smoke_workdir / "reports" / "smoke" / "table.md"
    build.build_suite_report("smoke", smoke_workdir)  # curves keyed by this drawing function: all drawn
    assert drawn and (smoke_workdir / "reports" / "smoke" / "curves" / f"{drawn[0]}.png").is_file()
    n_cells, stamp = len(drawn), table.stat().st_mtime_ns
    drawn.clear()
    build.build_suite_report("smoke", smoke_workdir)  # a full rebuild, but every curve is unchanged
    assert drawn == [] and table.stat().st_mtime_ns != stamp
    stamp = table.stat().st_mtime_ns
    kept = build.build_suite_report("smoke", smoke_workdir, skip_if_unchanged=True)
    assert table.stat().st_mtime_ns == stamp and table in kept
    # the store changes (a run gone): same code, other inputs -> rebuilt despite skip_if_unchanged
    runs = Tracker(smoke_workdir).cell_runs("smoke")
    monkeypatch.setattr(Tracker, "cell_runs", lambda self, suite, statuses=("FINISHED", "FAILED"): runs[1:])
    build.build_suite_report("smoke", smoke_workdir, skip_if_unchanged=True, allow_shrink=True)
    assert table.stat().st_mtime_ns != stamp
    monkeypatch.undo()
    build.build_suite_report("smoke", smoke_workdir, allow_shrink=True)


def test_report_rebuilds_the_same_table_from_the_store(smoke_workdir):
    table = smoke_workdir / "reports" / "smoke" / "table.md"
    first = table.read_text()
    table.unlink()
    assert main(["report", "--suite", "smoke", "--workdir", str(smoke_workdir)]) == 0
    assert table.read_text() == first
    assert "SYNTHETIC DATA" in first


def test_as_released_report_has_its_own_folder_and_the_clean_one_gains_the_gap_table(smoke_workdir, monkeypatch):
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    clean = smoke_workdir / "reports" / "smoke" / "table.md"
    before = clean.read_text()
    assert main(["run", "--suite", "smoke", "--workdir", str(smoke_workdir), "--device", "cpu",
                 "--protocol", "as-released", "--row", "eann"]) == 0
    released = smoke_workdir / "reports" / "smoke" / "as-released" / "table.md"
    assert "[protocol: as-released]" in released.read_text() and clean.read_text() == before
    assert main(["report", "--suite", "smoke", "--workdir", str(smoke_workdir)]) == 0
    gap = (smoke_workdir / "reports" / "smoke" / "protocol_gap" / "table.md").read_text()
    assert "eann [synthetic]" in gap and "gap " in gap


def test_unknown_suite_suggests_a_name(capsys):
    assert main(["run", "--suite", "tabel2"]) == 2
    assert "Did you mean 'table2'" in capsys.readouterr().err


def test_ui_command_binds_to_localhost(smoke_workdir, capsys):
    assert main(["ui", "--workdir", str(smoke_workdir), "--print-command"]) == 0
    out = capsys.readouterr().out
    assert "--host 127.0.0.1" in out and "sqlite:///" in out


def test_interrupted_cell_is_closed_not_left_running(tmp_path, monkeypatch):
    from benchmark.registry import SUITES
    from benchmark.loading import RunOptions
    from benchmark.runner import SuiteRunner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("benchmark.engine.train_model", interrupted)  # execute_cell imports it per cell
    load_plugins()
    options = RunOptions(suite="table2", data_root=tmp_path / "none", workdir=tmp_path, seeds=1, max_epochs=1,
                         limit=40, device="cpu", rows=("COOLANT",), datasets=("twitter",))
    with pytest.raises(KeyboardInterrupt):
        SuiteRunner(SUITES.get("table2"), options).run()
    runs = Tracker(tmp_path).cell_runs("table2", statuses=("RUNNING", "KILLED", "FAILED", "FINISHED"))
    assert [r.info.status for r in runs] == ["KILLED"]
    parents = Tracker(tmp_path).client.search_runs([Tracker(tmp_path).experiment_id("table2")],
                                                   filter_string="tags.kind = 'suite'")
    assert [p.info.status for p in parents] == ["KILLED"]


def test_failed_cell_is_recorded_and_the_suite_goes_on(tmp_path, monkeypatch):
    from benchmark.registry import SUITES
    from benchmark.loading import RunOptions
    from benchmark.runner import SuiteRunner

    import benchmark.engine as engine_mod
    real_train = engine_mod.train_model

    def flaky(model, *args, **kwargs):
        if type(model).__name__ == "Coolant" and model.config.use_itm is False:
            raise FloatingPointError("non-finite loss (test)")
        return real_train(model, *args, **kwargs)

    monkeypatch.setattr(engine_mod, "train_model", flaky)
    load_plugins()
    options = RunOptions(suite="table2", data_root=tmp_path / "none", workdir=tmp_path, seeds=1, max_epochs=1,
                         limit=40, device="cpu", rows=("COOLANT", "w/o ITM"), datasets=("twitter",))
    assert SuiteRunner(SUITES.get("table2"), options).run() == 1
    runs = {r.data.tags["row"]: r for r in Tracker(tmp_path).cell_runs("table2")}
    assert runs["COOLANT"].info.status == "FINISHED"
    assert runs["w/o ITM"].info.status == "FAILED" and "non-finite" in runs["w/o ITM"].data.tags["error"]
    from reports.build import build_suite_report
    build_suite_report("table2", tmp_path, figures=False)
    assert "failed: FloatingPointError" in (tmp_path / "reports" / "table2" / "table.md").read_text()


def test_report_all_writes_an_index_with_provenance(smoke_workdir, capsys):
    assert main(["report", "--all", "--workdir", str(smoke_workdir), "--format", "latex"]) == 0
    index = (smoke_workdir / "reports" / "index.md").read_text()
    assert "(smoke/table.md)" in index and "(smoke/table.tex)" in index
    for key in ("Data: synthetic-novemofake-tiny (synthetic)", "Seeds: 0", "Git commit:", "Encoders: text"):
        assert key in index
    protocols = next(line for line in index.splitlines() if line.startswith("- Protocol: "))
    assert "clean" in protocols  # and as-released, run by an earlier test in this module
    if "as-released" in protocols:
        assert "(smoke/as-released/table.md)" in index


def test_cells_of_an_older_row_config_are_left_out_of_reports(smoke_workdir, monkeypatch):
    import benchmark.runner as runner_mod
    from reports.build import build_suite_report

    real = runner_mod.suite_config_fingerprint
    monkeypatch.setattr(runner_mod, "suite_config_fingerprint",
                        lambda row: "changed-defaults" if row.model == "coolant" else real(row))
    build_suite_report("smoke", smoke_workdir, figures=False)
    table = (smoke_workdir / "reports" / "smoke" / "table.md").read_text()
    assert "Left out 1 cell(s) stored under an older configuration" in table and "coolant on synthetic" in table
    coolant_row = next(line for line in table.splitlines() if line.startswith("| coolant |"))
    assert "not run" in coolant_row
