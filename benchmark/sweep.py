"""Optuna sweeps as study management over the cell pipeline: ``bench sweep`` and the table3 suite.

A trial is a ``CellSpec`` with sampled overrides, trained by ``benchmark.training.train_cell`` with a
pruning callback, so a trial trains exactly what ``bench run`` would with those parameters: same data
loading, split policy and leak refusal, same encoders and precision. What this module adds:

* the objective is the selected epoch's VALIDATION metric; trials never evaluate the test split. A
  finished study touches it once: its best configuration is trained again as a cell (same seed, so
  the same model on a deterministic device) and its test metrics are stored, reported only;
* a study is resumable by name and keyed by everything that changes a trial's data (model, variant,
  dataset, split, limit, precision, encoders, data fingerprint, epochs cap, metric, seed): resuming
  under another setting refuses, naming the difference;
* several workers (processes or machines) finish exactly N trials; storage, claim lock and stale
  trials are ``benchmark.sweep_storage``'s; the table3 report is ``reports.sweep``'s.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.cells import CellSpec
from benchmark.data_params import DATA_PARAMS
from benchmark.errors import SweepError
from benchmark.metrics import METRIC_NAMES
from benchmark.recording import config_record, epoch_metrics, provenance_tags, record_outcome
from benchmark.sweep_storage import (DEFAULT_GRACE_S, DEFAULT_HEARTBEAT_S, DONE_STATES, HOST_ATTR, PID_ATTR,
                                     ClaimLock, Heartbeat, RetryStale, _quiet_optuna, open_storage,
                                     recover_stale_trials, redact, safe_name)
from benchmark.tracking import Tracker

log = logging.getLogger(__name__)
SearchSpace = Callable[[optuna.trial.BaseTrial], tuple[dict[str, Any], dict[str, Any]]]
SweepTracker = Tracker  # the suite tracker; ``tracking_uri`` points it at a server (workers on many machines)


# search spaces -----------------------------------------------------------------------------------
def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sampled parameters -> (model config overrides, data parameters)."""
    return ({k: v for k, v in params.items() if k not in DATA_PARAMS},
            {k: v for k, v in params.items() if k in DATA_PARAMS})


def check_metric(metric: str) -> str:
    """Objective metrics are validation metrics: ``val_<name>`` with a known name."""
    if not metric.startswith("val_") or metric[4:] not in METRIC_NAMES:
        raise SweepError(f"--metric {metric!r}: the objective must be a validation metric, one of "
                         f"{['val_' + m for m in METRIC_NAMES]} (test metrics are reported, never optimised)")
    return metric


# one study ---------------------------------------------------------------------------------------
@dataclass
class SweepContext:
    """One study: its storage, its search space and the cell every trial starts from.

    ``base`` is the trial's cell before sampling (``row``/``seed`` set, ``config`` the defaults with
    the epochs cap); ``load`` returns (splits, features) once; ``identity`` holds the study attributes
    that must match on resume beyond the model's (split, limit, precision, encoders, data)."""

    study_name: str
    base: CellSpec
    trials: int
    storage_url: str
    space: SearchSpace
    load: Callable[[], tuple[Any, Any]]
    metric: str = "val_accuracy"
    max_epochs: int | None = None
    experiment: str = "sweep"  # MLflow experiment bench/<experiment>
    tracking_uri: str | None = None
    heartbeat_interval: int = DEFAULT_HEARTBEAT_S
    grace_period: int = DEFAULT_GRACE_S
    max_retry: int = 3
    pruner_startup_trials: int = 5
    pruner_warmup_epochs: int = 1
    enqueue: list[dict[str, Any]] = field(default_factory=list)  # trials to run first (e.g. the paper's)
    identity: dict[str, Any] = field(default_factory=dict)
    report_info: dict[str, Any] = field(default_factory=dict)  # suite, slot, slot_label, data_source
    say: Callable[[str], None] = lambda message: print(message, flush=True)

    def __post_init__(self) -> None:
        check_metric(self.metric)
        self._data: tuple[Any, Any] | None = None
        self._features_print = ""
        self.storage = open_storage(self.storage_url, self.heartbeat_interval, self.grace_period, self.max_retry)
        self.lock = ClaimLock(self.storage_url, self.study_name)
        with _quiet_optuna():
            self.retry = RetryStale(self.max_retry)
        self.tracker: SweepTracker | None = None
        self.parent_run: str | None = None
        self.summary: dict[str, Any] = {}

    @property
    def workdir(self) -> Path:
        return Path(self.base.options.workdir)

    def data(self) -> tuple[Any, Any]:
        if self._data is None:
            self._data = self.load()
        return self._data

    def features_fingerprint(self) -> str:  # of the trials' features (before data parameters), as cells record it
        self._features_print = self._features_print or self.data()[1].content_fingerprint()
        return self._features_print

    def trial_spec(self, overrides: dict[str, Any], data_params: dict[str, Any], row: str) -> CellSpec:
        """The trial's cell: the base cell with the sampled config overrides and data parameters."""
        from benchmark.variants import resolve_config
        overrides = dict(overrides)
        if self.max_epochs is not None:
            overrides["max_epochs"] = min(int(overrides.get("max_epochs", self.max_epochs)), int(self.max_epochs))
        config = resolve_config(self.base.model, self.base.variant, overrides)
        return dataclasses.replace(self.base, config=config, row=row, data_params=tuple(sorted(data_params.items())))

    def attrs(self) -> dict[str, Any]:
        b = self.base
        return {"model": b.model, "variant": b.variant, "dataset": b.dataset, "metric": self.metric,
                "direction": "maximize", "seed": b.seed, "limit": b.limit, "max_epochs": self.max_epochs,
                "precision": b.precision, "split": b.split, **self.identity}

    def open_study(self, create: bool = True) -> optuna.Study:
        pruner = optuna.pruners.MedianPruner(n_startup_trials=self.pruner_startup_trials,
                                             n_warmup_steps=self.pruner_warmup_epochs)
        sampler = optuna.samplers.TPESampler(seed=self.base.seed)
        if create:
            study = optuna.create_study(study_name=self.study_name, storage=self.storage, direction="maximize",
                                        sampler=sampler, pruner=pruner, load_if_exists=True)
        else:
            study = optuna.load_study(study_name=self.study_name, storage=self.storage, sampler=sampler,
                                      pruner=pruner)
        stored = study.user_attrs
        if not stored.get("model"):
            for key, value in self.attrs().items():
                study.set_user_attr(key, value)
            study.set_user_attr("created", _now())
            for params in self.enqueue:
                study.enqueue_trial(params, user_attrs={"enqueued": "paper"}, skip_if_exists=True)
            return study
        differ = {k: (stored.get(k), v) for k, v in self.attrs().items() if stored.get(k) != v}
        if differ:
            raise SweepError(
                f"study {self.study_name!r} in {redact(self.storage_url)} was created with other settings: "
                + "; ".join(f"{k}: stored {a!r}, asked {b!r}" for k, (a, b) in differ.items())
                + ". Resume it with the stored settings, or start a new study with another --study NAME "
                  "(table3: the study name follows --split, --limit, --precision and --max-epochs).")
        return study

    def counts(self, study: optuna.Study) -> dict[str, int]:
        out = {s.name: 0 for s in TrialState}
        for t in study.get_trials(deepcopy=False):
            out[t.state.name] += 1
        return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def claim_trial(study: optuna.Study, ctx: SweepContext, poll_s: float = 1.0) -> optuna.Trial | None:
    """Under the claim lock: recover stale trials, then ask for a trial if fewer than N are finished
    or running. Returns None when N trials are finished; waits while the last ones run elsewhere."""
    import time
    while True:
        with ctx.lock.hold():
            recover_stale_trials(study, ctx.storage, ctx.grace_period, ctx.retry, on_failed=_closer(ctx))
            trials = study.get_trials(deepcopy=False)
            done = sum(t.state in DONE_STATES for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            if done >= ctx.trials:
                return None
            if done + running < ctx.trials:
                # one sampler per trial, seeded by its position: reproducible whatever the worker
                study.sampler = optuna.samplers.TPESampler(seed=ctx.base.seed * 1_000_003 + len(trials))
                with _quiet_optuna():
                    trial = study.ask()
                trial.set_user_attr(HOST_ATTR, socket.gethostname())
                trial.set_user_attr(PID_ATTR, os.getpid())
                Heartbeat(ctx.storage, trial._trial_id, ctx.heartbeat_interval).beat()
                return trial
        time.sleep(min(poll_s, float(ctx.heartbeat_interval)))


def _closer(ctx: SweepContext) -> Callable[[FrozenTrial, str], None]:
    def close(trial: FrozenTrial, reason: str) -> None:
        run_id = trial.user_attrs.get("mlflow_run_id")
        if ctx.tracker is None or not run_id:
            return
        try:
            ctx.tracker.set_tags(run_id, {"state": "FAIL", "error": f"stale: {reason}"})
            ctx.tracker.end(run_id, "KILLED")
        except Exception:  # noqa: BLE001 - closing a dead worker's run is best effort; the trial state is what counts
            log.debug("could not close MLflow run %s", run_id, exc_info=True)
    return close


def run_trial(trial: optuna.Trial, ctx: SweepContext) -> float:
    """Train the trial's cell on train, select and prune on validation; returns the objective.
    The test split is not evaluated (``evaluate_test=False``)."""
    from benchmark.training import train_cell

    overrides, data_params = ctx.space(trial)
    trial.set_user_attr("sampled", {**overrides, **data_params})
    spec = ctx.trial_spec(overrides, data_params, row=f"trial {trial.number}")
    tracker, run_id = ctx.tracker, None
    if tracker is not None and ctx.parent_run:
        tags = provenance_tags(study=ctx.study_name, trial=trial.number, model=spec.model, variant=spec.variant,
                               dataset_name=spec.dataset, protocol="clean", state="RUNNING", seed=spec.seed,
                               precision=spec.precision, split=spec.split, **ctx.report_info,
                               features_fingerprint=ctx.features_fingerprint(),
                               **{f"param.{k}": v for k, v in trial.params.items()},
                               retry_of=ctx.storage.get_trial(trial._trial_id).system_attrs.get("failed_trial"))
        run_id = tracker.start_cell(ctx.experiment, ctx.parent_run, f"trial {trial.number}", tags)
        tracker.set_tags(run_id, {"kind": "trial"})  # start_cell marks runs as cells; a trial is not a table cell
        trial.set_user_attr("mlflow_run_id", run_id)
        tracker.log_params(run_id, {**dataclasses.asdict(spec.config), **{f"data.{k}": v for k, v in data_params.items()},
                                    "seed": spec.seed})

    def on_epoch(epoch: int, record: dict[str, float]) -> None:
        if run_id is not None:
            tracker.log_metrics(run_id, epoch_metrics(record), step=epoch)
        trial.report(float(record[ctx.metric]), epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} ({ctx.metric}={record[ctx.metric]:.4f})")

    data = _with_data_params(ctx, spec) if spec.data_params else ctx.data()
    try:
        outcome = train_cell(spec, data, on_epoch=on_epoch, evaluate_test=False,
                             **({"log_artifact": lambda p: tracker.log_artifact(run_id, p),
                                 "log_metrics": lambda m, step=0: tracker.log_metrics(run_id, m, step)}
                                if run_id is not None else {}))
    except BaseException as exc:
        if run_id is not None:
            pruned = isinstance(exc, optuna.TrialPruned)
            tracker.set_tags(run_id, {"state": "PRUNED" if pruned else "FAIL"})
            tracker.end(run_id, "FINISHED" if pruned else "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    if run_id is not None:
        record_outcome(tracker, run_id, spec, outcome, files=lambda: {"config.json": config_record(
            spec, outcome, metric=ctx.metric, study=ctx.study_name)})
    if not outcome.ok:
        raise RuntimeError(outcome.error or f"not available: {outcome.unavailable}")
    result = outcome.result
    value = float(result.validation.metrics[ctx.metric[len("val_"):]])
    for key, val in {**{f"selected_val_{k}": v for k, v in result.validation.metrics.items()},
                     "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                     "n_train": len(data[1].train)}.items():
        trial.set_user_attr(key, float(val))
    if run_id is not None:
        tracker.set_tags(run_id, {"state": "COMPLETE"})
    return value


def _with_data_params(ctx: SweepContext, spec: CellSpec) -> tuple[Any, Any]:
    from benchmark.data_params import apply_data_params
    splits, features = ctx.data()
    return splits, apply_data_params(splits, features, dict(spec.data_params), seed=spec.seed)


@dataclass
class WorkerStats:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    lost: int = 0  # trials another worker declared stale while this one ran them


def run_worker(study: optuna.Study, ctx: SweepContext, max_failures: int | None = None) -> WorkerStats:
    """Claim and run trials until the study holds ``ctx.trials`` finished (COMPLETE + PRUNED) trials."""
    stats = WorkerStats()
    limit = max_failures if max_failures is not None else max(3, ctx.trials)
    while True:
        trial = claim_trial(study, ctx)
        if trial is None:
            return stats
        state, value, error = TrialState.COMPLETE, None, ""
        with Heartbeat(ctx.storage, trial._trial_id, ctx.heartbeat_interval):
            try:
                value = run_trial(trial, ctx)
            except optuna.TrialPruned:
                state = TrialState.PRUNED
            except KeyboardInterrupt:
                _tell(study, trial, TrialState.FAIL, None)
                raise
            except Exception as exc:  # a bad configuration (e.g. NaN loss) must not end the sweep
                state, error = TrialState.FAIL, f"{type(exc).__name__}: {exc}"
                trial.set_user_attr("error", error[:2000])
        if not _tell(study, trial, state, value):
            stats.lost += 1
            continue
        if state == TrialState.COMPLETE:
            stats.complete += 1
            ctx.say(f"[trial {trial.number}] COMPLETE {ctx.metric}={value:.4f} {trial.params}")
        elif state == TrialState.PRUNED:
            stats.pruned += 1
            ctx.say(f"[trial {trial.number}] PRUNED {trial.params}")
        else:
            stats.failed += 1
            ctx.say(f"[trial {trial.number}] FAILED {error} {trial.params}")
            if stats.failed >= limit:
                raise SweepError(f"{stats.failed} trials failed in this worker (last: {error}); stopping. "
                                 f"Check the trials' MLflow runs (traceback.txt) for the cause.")


def _tell(study: optuna.Study, trial: optuna.Trial, state: TrialState, value: float | None) -> bool:
    try:
        with _quiet_optuna():
            study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        return True
    except optuna.exceptions.UpdateFinishedTrialError:
        log.warning("trial %d was declared stale by another worker while it ran; its result is dropped "
                    "and the re-queued copy counts instead (raise --grace-period)", trial.number)
        return False


# parent run, the test touched once, summary ------------------------------------------------------
def open_parent_run(study: optuna.Study, ctx: SweepContext) -> str:
    """The study's MLflow parent run (kind=study): reopened on resume, created on first start."""
    assert ctx.tracker is not None
    tracker = ctx.tracker
    exp = tracker.experiment_id(ctx.experiment)
    tracker.close_orphans([exp])
    run_id = study.user_attrs.get("mlflow_parent_run")
    if run_id:
        try:
            run = tracker.client.get_run(run_id)
            if run.info.lifecycle_stage == "active" and run.info.experiment_id == exp:
                tracker.client.update_run(run_id, status="RUNNING")
                tracker.set_tags(run_id, {"pid": os.getpid(), "host": socket.gethostname()})
                return run_id
        except Exception:  # noqa: BLE001 - a study moved to another store starts a new parent run
            log.info("study parent run %s not in this tracking store; starting a new one", run_id)
    tags = provenance_tags(study=ctx.study_name, storage=redact(ctx.storage_url), started=_now(), protocol="clean",
                           direction="maximize", **{k: v for k, v in ctx.attrs().items() if k != "direction"},
                           **ctx.report_info)
    run_id = tracker.start_parent(ctx.experiment, tags, {"trials": ctx.trials})
    tracker.set_tags(run_id, {"kind": "study", "mlflow.runName": f"study {ctx.study_name}"})
    study.set_user_attr("mlflow_parent_run", run_id)
    return run_id


def evaluate_best_on_test(study: optuna.Study, ctx: SweepContext) -> dict[str, float] | None:
    """The study's single look at the test split: its best trial's configuration trained again as a
    cell (same seed and data) and evaluated on test; stored in the study (``best_test``) so it is
    computed once per best trial, never per trial. None while no trial is complete."""
    from benchmark.training import train_cell
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = study.best_trial
    stored = study.user_attrs.get("best_test") or {}
    if stored.get("trial") == best.number:
        return stored["metrics"]
    overrides, data_params = split_params(dict(best.user_attrs.get("sampled") or best.params))
    spec = ctx.trial_spec(overrides, data_params, row=f"best trial {best.number}")
    outcome = train_cell(spec, _with_data_params(ctx, spec) if data_params else ctx.data())
    if not outcome.ok:
        raise SweepError(f"the best trial's configuration failed when trained for its test evaluation: {outcome.error}")
    metrics = {k: float(v) for k, v in outcome.result.test.metrics.items()}
    if ctx.tracker is not None and ctx.parent_run:
        run_id = ctx.tracker.start_cell(ctx.experiment, ctx.parent_run, f"best trial {best.number} (test)",
                                        provenance_tags(study=ctx.study_name, trial=best.number,
                                                        precision=spec.precision, split=spec.split))
        ctx.tracker.set_tags(run_id, {"kind": "study_test"})
        record_outcome(ctx.tracker, run_id, spec, outcome)
    study.set_user_attr("best_test", {"trial": best.number, "metrics": metrics})
    ctx.say(f"[sweep] best trial {best.number} evaluated once on test: accuracy {metrics.get('accuracy', float('nan')):.4f}")
    return metrics


def summarize(study: optuna.Study, ctx: SweepContext, test: dict[str, float] | None) -> dict[str, Any]:
    """Store the best parameters: study user attrs, ``<workdir>/sweeps/<study>.json``, MLflow artifact."""
    counts = ctx.counts(study)
    summary: dict[str, Any] = {
        "study": ctx.study_name, **ctx.attrs(), "protocol": "clean", "storage": redact(ctx.storage_url),
        "trials_requested": ctx.trials, "n_complete": counts["COMPLETE"], "n_pruned": counts["PRUNED"],
        "n_failed": counts["FAIL"], "updated": _now(), "mlflow_parent_run": study.user_attrs.get("mlflow_parent_run"),
        "best_trial": None, "best_value": None, "best_params": None, "best_overrides": None,
        "best_data_params": None, "best_test_metrics_reported_only": test, **ctx.report_info}
    if counts["COMPLETE"]:
        best = study.best_trial
        overrides, data_params = split_params(dict(best.user_attrs.get("sampled") or best.params))
        summary.update({"best_trial": best.number, "best_value": best.value, "best_params": best.params,
                        "best_overrides": overrides, "best_data_params": data_params})
        for key in ("best_params", "best_value", "best_overrides", "best_trial"):
            study.set_user_attr(key, summary[key])
    study.set_user_attr("updated", summary["updated"])
    ctx.summary = summary
    out = ctx.workdir / "sweeps" / f"{safe_name(ctx.study_name)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    if ctx.tracker is not None and ctx.parent_run:
        ctx.tracker.log_files(ctx.parent_run, {"best_params.json": summary})
        ctx.tracker.log_metrics(ctx.parent_run, {"best_value": summary["best_value"], "n_complete": counts["COMPLETE"],
                                                 "n_pruned": counts["PRUNED"], "n_failed": counts["FAIL"]})
    return summary


def run_study(ctx: SweepContext, workers: int = 1, worker_argv: Callable[[int], list[str]] | None = None,
              parent_run: str | None = None, write_summary: bool = True,
              worker_env: dict[str, str] | None = None) -> tuple[optuna.Study, int]:
    """Create/resume the study and run it to ``ctx.trials`` finished trials; returns (study, rc).

    ``workers > 1`` starts that many worker processes (``worker_argv(i)``) after the features are
    cached and the parent run exists, and waits for them. ``worker_env``: extra environment variables
    of the workers (secrets travel there, never on their command line). When the study holds its N
    finished trials, its best configuration is evaluated on test once (``evaluate_best_on_test``).
    """
    study = ctx.open_study(create=True)
    counts = ctx.counts(study)
    ctx.say(f"[sweep] study {ctx.study_name} in {redact(ctx.storage_url)}: {counts['COMPLETE'] + counts['PRUNED']}/"
            f"{ctx.trials} finished ({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} "
            f"failed, {counts['RUNNING']} running)")
    ctx.tracker = SweepTracker(ctx.workdir, tracking_uri=ctx.tracking_uri)
    owns_parent = parent_run is None
    ctx.parent_run = parent_run or open_parent_run(study, ctx)
    rc, status = 0, "FINISHED"
    try:
        if workers > 1:
            if worker_argv is None:
                raise ValueError("workers > 1 needs worker_argv")
            ctx.data()  # featurise once here so workers only read the cache
            procs = [subprocess.Popen(worker_argv(i), env={**os.environ, **(worker_env or {})})
                     for i in range(workers)]
            ctx.say(f"[sweep] started {workers} workers: pids {[p.pid for p in procs]}")
            codes = [p.wait() for p in procs]
            if any(codes):
                ctx.say(f"[sweep] worker exit codes {codes}")
                rc = 1
        else:
            stats = run_worker(study, ctx)
            ctx.say(f"[sweep] this worker: {stats.complete} complete, {stats.pruned} pruned, "
                    f"{stats.failed} failed, {stats.lost} lost to stale detection")
        finished = sum(t.state in DONE_STATES for t in study.get_trials(deepcopy=False))
        test = evaluate_best_on_test(study, ctx) if owns_parent and finished >= ctx.trials else None
    except KeyboardInterrupt:
        status, test = "KILLED", None
        raise
    except BaseException:
        status, rc, test = "FAILED", 1, None
        raise
    finally:
        if owns_parent:
            if write_summary:
                summary = summarize(study, ctx, test)
                if summary["best_trial"] is not None:
                    ctx.say(f"[sweep] best trial {summary['best_trial']}: {ctx.metric}={summary['best_value']:.4f} "
                            f"params {summary['best_params']}")
            ctx.tracker.end(ctx.parent_run, status)
    return study, rc
