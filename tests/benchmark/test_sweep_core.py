"""Sweeps in-process on a toy model: validation-only objective with the test split touched once per
study, resume, exact trial counts, stale trials (journal heartbeat, RDB heartbeat, dead pid), the
train/test ratio without re-splitting, and --params best."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from optuna.trial import TrialState

from benchmark import sweep
from benchmark import sweep_cli
from benchmark import sweep_storage as storage
from benchmark.cells import CellSpec
from benchmark.engine import Evaluation, TrainResult
from benchmark.errors import SweepError
from benchmark.loading import RunOptions
from benchmark.registry import MODELS
from benchmark.suites import DatasetSlot, Suite, SuiteRow
from tests.toy import ToyModel, toy_splits

TOY = "sweep_toy"


@pytest.fixture(autouse=True)
def toy_model(monkeypatch):
    monkeypatch.setitem(MODELS._entries, TOY, ToyModel)
    yield


def toy_base(tmp_path: Path, **kw) -> CellSpec:
    from benchmark.variants import resolve_config
    options = RunOptions(suite="sweep", workdir=tmp_path, device="cpu", precision="fp32")
    fields = dict(suite="sweep", row="trial", model=TOY, variant="default", config=resolve_config(TOY, "default", {}),
                  slot="toy", slot_label="toy", dataset="toy", data_source="synthetic", options=options, seed=0,
                  limit=None, data_fingerprint="toy", split="random", cluster_unit="item",
                  encoders=(("image", "none"), ("text", "toy")))
    return CellSpec(**{**fields, **kw})


def make_ctx(tmp_path: Path, name: str = "s", trials: int = 3, storage_url: str | None = None, **kw) -> sweep.SweepContext:
    url = storage_url or storage.sqlite_url(tmp_path)
    kw.setdefault("max_epochs", 3)
    return sweep.SweepContext(study_name=name, base=toy_base(tmp_path), trials=trials, storage_url=url,
                              space=sweep_cli.model_search_space(TOY), load=lambda: (None, toy_splits(48)),
                              say=lambda m: None, **kw)


def states(study: optuna.Study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def _evaluation(acc: float) -> Evaluation:
    return Evaluation(metrics={"accuracy": acc}, probabilities=np.zeros(2), predictions=np.zeros(2),
                      labels=np.zeros(2))


def test_objective_is_the_validation_metric_and_test_is_touched_once(tmp_path, monkeypatch):
    # each fake training reports per-epoch validation values; a trial never evaluates test, and the
    # finished study evaluates its best configuration on test exactly once
    plan = iter([0.6, 0.8, 0.7])
    seen: list[tuple[bool, float]] = []  # (evaluate_test, lr) per training

    def fake_train(model, features, *, protocol, seed, device, on_epoch, prepare_context, evaluate_test, **kw):
        assert protocol == "clean"
        seen.append((evaluate_test, model.config.lr))
        if evaluate_test:  # the study's single test evaluation
            return TrainResult(history=pd.DataFrame(), best_epoch=2, selected_on="validation",
                               validation=_evaluation(0.8), test=_evaluation(0.10), stopped_early=False, epochs_run=2)
        val = next(plan)
        for epoch, value in enumerate([val - 0.1, val], start=1):
            on_epoch(epoch, {"epoch": epoch, "val_accuracy": value, "train_loss_total": 1.0})
        return TrainResult(history=pd.DataFrame(), best_epoch=2, selected_on="validation",
                           validation=_evaluation(val), test=None, stopped_early=False, epochs_run=2)

    monkeypatch.setattr("benchmark.engine.train_model", fake_train)
    ctx = make_ctx(tmp_path, trials=3)
    study, rc = sweep.run_study(ctx)
    assert rc == 0
    assert [t.value for t in study.trials] == pytest.approx([0.6, 0.8, 0.7])
    assert study.best_trial.number == 1
    assert [e for e, _ in seen] == [False, False, False, True]  # test once, after the three trials
    assert seen[3][1] == pytest.approx(study.best_trial.params["lr"])  # for the best configuration
    assert not any(k.startswith("test_") for t in study.trials for k in t.user_attrs)
    for t in study.trials:  # the pruner saw the validation curve, nothing else
        assert list(t.intermediate_values.values()) == pytest.approx([t.value - 0.1, t.value])
    summary = json.loads((tmp_path / "sweeps" / "s.json").read_text())
    assert summary["best_value"] == pytest.approx(0.8) and summary["best_trial"] == 1
    assert summary["best_test_metrics_reported_only"] == {"accuracy": pytest.approx(0.10)}
    assert summary["precision"] == "fp32" and summary["split"] == "random"
    sweep.run_study(make_ctx(tmp_path, trials=3))  # resumed when finished: no trial, no second test
    assert len(seen) == 4


def test_test_metrics_are_refused_as_objective(tmp_path):
    with pytest.raises(SweepError, match="validation metric"):
        make_ctx(tmp_path, metric="test_accuracy")


def test_resume_runs_only_missing_trials_and_refuses_changed_settings(tmp_path):
    study, _ = sweep.run_study(make_ctx(tmp_path, trials=2))
    first = [(t.number, t.params) for t in study.trials]
    study, _ = sweep.run_study(make_ctx(tmp_path, trials=3))
    assert states(study) == {"COMPLETE": 3}
    assert [(t.number, t.params) for t in study.trials][:2] == first  # untouched, not re-run
    study, _ = sweep.run_study(make_ctx(tmp_path, trials=3))  # nothing missing: no new trial
    assert len(study.trials) == 3
    with pytest.raises(SweepError, match="max_epochs: stored 3, asked 5.*--study NAME"):
        make_ctx(tmp_path, trials=3, max_epochs=5).open_study()
    changed = make_ctx(tmp_path, trials=3)
    changed.base = toy_base(tmp_path, split="grouped")  # another split policy: other validation items
    with pytest.raises(SweepError, match="split: stored 'random', asked 'grouped'"):
        changed.open_study()


def test_two_concurrent_workers_finish_exactly_n_trials(tmp_path):
    url = storage.journal_url(tmp_path)
    ctx0 = make_ctx(tmp_path, name="par", trials=5, storage_url=url)
    study0 = ctx0.open_study()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            ctx = make_ctx(tmp_path, name="par", trials=5, storage_url=url)  # own storage, as a process would
            sweep.run_worker(ctx.open_study(create=False), ctx)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    trials = study0.get_trials()
    assert states(study0) == {"COMPLETE": 5}
    assert sorted(t.number for t in trials) == list(range(5))


def _running_trial(ctx: sweep.SweepContext, host: str, pid: int) -> tuple[optuna.Study, optuna.Trial]:
    study = ctx.open_study()
    with storage._quiet_optuna():
        trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    trial.suggest_categorical("batch_size", [32, 64, 128])
    trial.set_user_attr(storage.HOST_ATTR, host)
    trial.set_user_attr(storage.PID_ATTR, pid)
    return study, trial


def test_journal_trial_without_heartbeat_is_failed_and_requeued(tmp_path):
    ctx = make_ctx(tmp_path, storage_url=storage.journal_url(tmp_path), grace_period=30, trials=2)
    assert not storage.heartbeat_enabled(ctx.storage)  # optuna 5 journal storage: no built-in heartbeat
    study, trial = _running_trial(ctx, "another-host", 1)
    ctx.storage.set_trial_system_attr(trial._trial_id, storage.HEARTBEAT_ATTR, time.time())
    assert storage.recover_stale_trials(study, ctx.storage, 30, ctx.retry) == []  # fresh beat: alive
    ctx.storage.set_trial_system_attr(trial._trial_id, storage.HEARTBEAT_ATTR, time.time() - 120)
    assert storage.recover_stale_trials(study, ctx.storage, 30, ctx.retry) == [trial.number]
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].params == trial.params
    assert waiting[0].system_attrs["failed_trial"] == trial.number
    sweep.run_worker(study, ctx)  # the retry runs with the same parameters
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 2 and done[0].params == trial.params
    assert states(study) == {"FAIL": 1, "COMPLETE": 2}


def test_rdb_heartbeat_marks_stale_trial_failed(tmp_path):
    ctx = make_ctx(tmp_path, heartbeat_interval=1, grace_period=1)
    assert storage.heartbeat_enabled(ctx.storage)
    study, trial = _running_trial(ctx, "another-host", 1)
    ctx.storage.record_heartbeat(trial._trial_id)
    time.sleep(2.2)
    assert storage.recover_stale_trials(study, ctx.storage, 1, ctx.retry) == [trial.number]
    assert [t.params for t in study.get_trials(states=(TrialState.WAITING,))] == [trial.params]


def test_trial_of_a_dead_local_process_is_failed_at_once(tmp_path):
    proc = subprocess.Popen(["true"])
    proc.wait()
    ctx = make_ctx(tmp_path, storage_url=storage.journal_url(tmp_path), grace_period=3600)
    study, trial = _running_trial(ctx, socket.gethostname(), proc.pid)
    assert storage.recover_stale_trials(study, ctx.storage, 3600, ctx.retry) == [trial.number]
    assert "is gone" in study.trials[trial.number].user_attrs["fail_reason"]


def test_train_test_ratio_keeps_validation_and_test_and_subsamples_train():
    from benchmark.data_params import apply_data_params, parse_ratio, train_size_for_ratio
    base = toy_splits(96)  # 96 train, 32 validation, 32 test
    assert parse_ratio("80:20") == pytest.approx(0.8) and parse_ratio(0.5) == 0.5
    with pytest.raises(ValueError, match="train_test_ratio"):
        parse_ratio("0:10")
    assert train_size_for_ratio(96, 32, 0.7) == round(32 * 0.7 / 0.3)  # 75
    assert train_size_for_ratio(96, 32, 0.9) == 96  # capped: the training split is all there is
    again = apply_data_params(None, base, {"train_test_ratio": "70:30"}, seed=3)
    assert again.test is base.test and again.validation is base.validation  # never re-split
    assert len(again.train) == 75 and set(again.train.item_ids) <= set(base.train.item_ids)
    share = again.train.labels.float().mean().item()
    assert share == pytest.approx(base.train.labels.float().mean().item(), abs=0.03)  # stratified
    assert apply_data_params(None, base, {"train_test_ratio": "70:30"}, seed=3).train.item_ids == again.train.item_ids
    x = dict(zip(base.train.item_ids, base.train.get("text_pooled")))  # features follow their items
    assert torch.equal(again.train.get("text_pooled")[0], x[again.train.item_ids[0]])
    with pytest.raises(ValueError, match="unknown data parameter"):
        apply_data_params(None, base, {"test_share": 0.2}, seed=0)


def _suite(model: str) -> Suite:
    return Suite(name="toy-suite", title="t", paper="", kind="metrics",
                 rows=(SuiteRow(label="toy", model=model),),
                 datasets=(DatasetSlot(id="d", label="d", real=(), synthetic="synthetic-tiny"),), metrics=("accuracy",))


def test_params_best_returns_the_latest_study_best_params(tmp_path):
    from benchmark.cli import _params_from
    with pytest.raises(SweepError, match="no stored sweep"):
        sweep_cli.best_params_for_suite(tmp_path, [TOY], "toy-suite", say=lambda m: None)
    old, _ = sweep.run_study(make_ctx(tmp_path, name="old", trials=2))
    new, _ = sweep.run_study(make_ctx(tmp_path, name="new", trials=3))
    expected = {k: v for k, v in new.best_params.items()}
    assert sweep_cli.best_params_for_suite(tmp_path, [TOY], "toy-suite", say=lambda m: None) == {TOY: expected}
    args = argparse.Namespace(params="best", workdir=str(tmp_path))
    assert _params_from(args, _suite(TOY)) == {TOY: expected}
    assert new.user_attrs["best_params"] == new.best_params  # also stored on the study itself


def test_study_report_lists_the_swept_models_declared_deviations(tmp_path, monkeypatch):
    from benchmark.deviations import model_deviations
    from benchmark.registry import SUITES, load_plugins

    load_plugins()

    def fake_train(model, features, *, protocol, seed, device, on_epoch, prepare_context, **kw):
        on_epoch(1, {"epoch": 1, "val_accuracy": 0.5, "train_loss_total": 1.0})
        return TrainResult(history=pd.DataFrame(), best_epoch=1, selected_on="validation",
                           validation=_evaluation(0.5), test=_evaluation(0.5), stopped_early=False, epochs_run=1)

    monkeypatch.setattr("benchmark.engine.train_model", fake_train)
    study, rc = sweep.run_study(make_ctx(tmp_path, trials=1))
    assert rc == 0
    summary = json.loads((tmp_path / "sweeps" / "s.json").read_text())
    summary.update(model="novemofake", variant="pmne")  # as table3 sweeps it
    from reports.sweep import write_study_report
    paths = write_study_report(study, SUITES.get("table3"), summary, tmp_path)
    table = next(p for p in paths if p.name == "table.md").read_text()
    declared = model_deviations("novemofake")
    assert declared and "Deviations of novemofake (rows novemofake:pmne)" in table
    assert declared[0].topic in table and "docs/deviations.md" in table


def test_table3_refuses_flags_it_cannot_honour_and_names_its_study_by_setting(capsys):
    from benchmark.cli import main
    from benchmark.registry import SUITES, load_plugins
    load_plugins()
    for flag, value in (("--seeds", "2"), ("--jobs", "2"), ("--executor", "inline"), ("--clip-path", "c"),
                        ("--entity-file", "e.jsonl")):
        assert main(["run", "--suite", "table3", flag, value]) == 2
        assert f"{flag} does not apply to the sweep suite table3" in capsys.readouterr().err
    table3 = SUITES.get("table3")
    fp32 = RunOptions(suite="table3", precision="fp32")
    bf16_grouped = RunOptions(suite="table3", precision="bf16", split="grouped")
    assert sweep_cli.study_name(table3, "m", "v", "d", fp32, None, None) == "table3-m-v-d"  # as before
    assert sweep_cli.study_name(table3, "m", "v", "d", bf16_grouped, 40, 2) == "table3-m-v-d-split-grouped-limit40-ep2-bf16"
