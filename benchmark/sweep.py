"""Optuna sweeps that resume, survive killed workers and scale out: ``bench sweep`` and the table3 suite.

Why this module exists: a hyper-parameter search must (1) select on the validation split only (the
clean protocol; test metrics are computed once per trial after selection and stored for reporting,
never given to the sampler), (2) be resumable by name, running only the trials still missing, and
(3) run on several processes or machines against one study without losing or duplicating trials.

How it does that
  * Storage: an SQLite file ``<workdir>/optuna.db`` for one worker, Optuna's journal file
    ``<workdir>/optuna-journal.log`` (``JournalStorage(JournalFileBackend)``) for several local
    workers, any SQLAlchemy URL (PostgreSQL) via ``--storage`` for workers on several machines. The
    MLflow store is a different file (``mlflow.db``) or a tracking server (``--tracking-uri``).
  * Exactly N finished trials: a worker claims a trial (``study.ask()``) only while holding a claim
    lock (a file lock beside SQLite/journal storages, a PostgreSQL advisory lock for PostgreSQL) and
    only if COMPLETE + PRUNED + RUNNING < N. ``MaxTrialsCallback`` alone stops a worker only after
    its trial ends, so K concurrent workers overshoot N by up to K-1; the claim rule does not.
  * Killed workers: SQL storages use ``RDBStorage(heartbeat_interval, grace_period,
    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback)`` and
    ``optuna.storages.fail_stale_trials``. Optuna 5's ``JournalStorage`` has no heartbeat, so each
    worker writes its own heartbeat into a trial system attribute and every worker fails RUNNING
    trials whose heartbeat is older than the grace period at each claim. In both cases a trial
    whose worker process is gone on this host (pid check) is failed at once. A failed stale trial
    is re-queued (WAITING, same parameters) and counts toward nothing until it is re-run.
  * Pruning: ``trial.report`` + ``should_prune`` on the per-epoch validation metric inside the
    engine's ``on_epoch`` callback (MedianPruner); the sampler is a TPESampler seeded per trial
    number, so a resumed or parallel study stays reproducible trial by trial.
  * Tracking: one MLflow parent run per study (tag kind=study), one nested run per trial (tags
    trial number, state, params; per-epoch metrics). The best parameters go to the study's user
    attrs, a ``best_params.json`` artifact on the parent run and ``<workdir>/sweeps/<study>.json``,
    which ``best_params_for_suite`` reads for ``bench run --params best``.
  * table3: the NovEmoFake paper's hyper-parameter variations (epochs, batch size, optimiser,
    learning rate, train/test ratio) as a categorical study over the final model. The train/test
    ratio re-splits train+test of the loaded dataset (seeded, stratified by label) after
    featurisation by concatenating feature tables; the validation split stays fixed so every
    trial's objective is measured on the same items.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import optuna
import pandas as pd
import torch
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from benchmark.features import FeatureSplits, FeatureTable
from benchmark.redaction import mask as redact  # the storage URL without its password
from benchmark.tracking import Tracker, git_commit, package_versions, pid_alive

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's experimental-API warnings (heartbeats, retries) and its warning that heartbeats
    belong to Study.optimize: this module runs the trial heartbeats itself (class Heartbeat)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield

DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_ATTR = "bench:heartbeat"  # system attr (journal storage): unix time of the worker's last beat
HOST_ATTR, PID_ATTR = "worker_host", "worker_pid"
DATA_PARAMS = ("train_test_ratio",)  # sampled parameters that change the data, not the model config
DEFAULT_HEARTBEAT_S = 60
DEFAULT_GRACE_S = 180
METRIC_NAMES = ("accuracy", "fake_precision", "fake_recall", "fake_f1", "real_precision", "real_recall",
                "real_f1", "macro_f1", "micro_f1", "weighted_f1")

SearchSpace = Callable[[optuna.trial.BaseTrial], tuple[dict[str, Any], dict[str, Any]]]


# storage -----------------------------------------------------------------------------------------
def sqlite_url(workdir: Path) -> str:
    return f"sqlite:///{(Path(workdir).resolve() / 'optuna.db').as_posix()}"


def journal_url(workdir: Path) -> str:
    return f"journal:{(Path(workdir).resolve() / 'optuna-journal.log').as_posix()}"


def is_journal(url: str) -> bool:
    return url.startswith("journal:") or url.endswith((".log", ".journal"))


def journal_path(url: str) -> Path:
    return Path(url[len("journal:"):] if url.startswith("journal:") else url)


class RetryStale(RetryHeartbeatStaleTrialCallback):
    """Re-queue a stale trial (same parameters) without the dead worker's bookkeeping attributes."""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        clean = FrozenTrial(number=trial.number, state=trial.state, value=None, values=trial.values,
                            datetime_start=trial.datetime_start, datetime_complete=trial.datetime_complete,
                            params=trial.params, distributions=trial.distributions,
                            user_attrs={k: v for k, v in trial.user_attrs.items() if k in ("sampled",)},
                            system_attrs={k: v for k, v in trial.system_attrs.items() if k != HEARTBEAT_ATTR},
                            intermediate_values=trial.intermediate_values, trial_id=trial._trial_id)
        super().__call__(study, clean)


def open_storage(url: str, heartbeat_interval: int = DEFAULT_HEARTBEAT_S, grace_period: int = DEFAULT_GRACE_S,
                 max_retry: int = 3) -> optuna.storages.BaseStorage:
    """Journal file storage for ``journal:PATH`` (or ``*.log``), else an RDBStorage with heartbeats."""
    if is_journal(url):
        path = journal_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}
    with _quiet_optuna():
        return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=int(heartbeat_interval),
                          grace_period=int(grace_period), heartbeat_stale_trial_callback=RetryStale(max_retry))


def _has_study(url: str, name: str) -> bool:
    if is_journal(url):
        if not journal_path(url).is_file():
            return False
    elif not Path(url.split(":///", 1)[1]).is_file():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return name in optuna.study.get_all_study_names(open_storage(url))


def resolve_storage_url(storage: str | None, workdir: Path, workers: int, study_name: str) -> str:
    """``--storage`` if given; else the default file in the work directory that already holds the
    study (so switching ``--workers`` does not fork it), else journal for K>1 workers, SQLite for one."""
    if storage:
        if is_journal(storage) and not storage.startswith("journal:"):
            return "journal:" + str(Path(storage).resolve())
        return storage
    for url in (sqlite_url(workdir), journal_url(workdir)):
        if _has_study(url, study_name):
            return url
    return journal_url(workdir) if workers > 1 else sqlite_url(workdir)


def heartbeat_enabled(storage: optuna.storages.BaseStorage) -> bool:
    return isinstance(storage, RDBStorage) and storage.get_heartbeat_interval() is not None


# claim lock --------------------------------------------------------------------------------------
class ClaimLock:
    """Serialises 'count the trials, then ask for one' across processes sharing one study.

    File lock next to SQLite / journal files (one machine); PostgreSQL advisory lock keyed by the
    study name (several machines); no lock for other back-ends (then up to K-1 extra trials).
    """

    def __init__(self, url: str, study_name: str) -> None:
        self.url, self.study_name = url, study_name
        self.kind = "none"
        self._path: Path | None = None
        self._engine = None
        if is_journal(url):
            self.kind, self._path = "file", journal_path(url).with_name(journal_path(url).name + ".claim.lock")
        elif url.startswith("sqlite"):
            self.kind, self._path = "file", Path(url.split(":///", 1)[1] + ".claim.lock")
        elif url.startswith("postgresql"):
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool
            self.kind = "postgresql"
            self._engine = create_engine(url, poolclass=NullPool)
            digest = hashlib.sha256(f"bench-sweep:{study_name}".encode()).digest()
            self._key = int.from_bytes(digest[:8], "big", signed=True)
        else:
            log.warning("no cross-process claim lock for %s; concurrent workers may finish a few trials "
                        "more than requested", redact(url))

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if self.kind == "file":
            assert self._path is not None
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._path, "a+") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        elif self.kind == "postgresql":
            from sqlalchemy import text
            with self._engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                    conn.commit()
        else:
            yield


# heartbeats and stale trials ---------------------------------------------------------------------
class Heartbeat:
    """Background beats for one RUNNING trial: RDB heartbeat table, or a journal system attribute."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int, interval: float) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, max(float(interval), 0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{trial_id}", daemon=True)

    def beat(self) -> None:
        if heartbeat_enabled(self.storage):
            self.storage.record_heartbeat(self.trial_id)  # type: ignore[attr-defined]
        else:
            self.storage.set_trial_system_attr(self.trial_id, HEARTBEAT_ATTR, time.time())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except optuna.exceptions.UpdateFinishedTrialError:
                return  # another worker declared this trial stale; the tell will say so
            except Exception:  # a transient storage error must not kill the trial
                log.warning("heartbeat of trial id %s failed", self.trial_id, exc_info=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _last_beat(trial: FrozenTrial) -> float | None:
    beat = trial.system_attrs.get(HEARTBEAT_ATTR)
    if beat is not None:
        return float(beat)
    return trial.datetime_start.timestamp() if trial.datetime_start else None


def recover_stale_trials(study: optuna.Study, storage: optuna.storages.BaseStorage, grace_period: float,
                         retry: Callable[[optuna.Study, FrozenTrial], None],
                         on_failed: Callable[[FrozenTrial, str], None] | None = None) -> list[int]:
    """Fail RUNNING trials whose worker is gone and re-queue them; returns the failed trial numbers.

    Gone = its pid is dead on this host, or (storages without Optuna heartbeats, i.e. journal) no
    heartbeat for ``grace_period`` seconds. RDB storages also get Optuna's own ``fail_stale_trials``.
    """
    failed: list[int] = []
    if heartbeat_enabled(storage):
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        with _quiet_optuna():
            optuna.storages.fail_stale_trials(study)
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
            if t.number in before:
                failed.append(t.number)
                if on_failed:
                    on_failed(t, f"no heartbeat for {grace_period}s")
    me, now = socket.gethostname(), time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, pid = trial.user_attrs.get(HOST_ATTR), trial.user_attrs.get(PID_ATTR)
        reason = None
        if host == me and isinstance(pid, int) and pid != os.getpid() and not pid_alive(pid):
            reason = f"worker process {host}:{pid} is gone"
        elif not heartbeat_enabled(storage):
            beat = _last_beat(trial)
            if beat is not None and now - beat > grace_period:
                reason = f"no heartbeat for {now - beat:.0f}s (grace period {grace_period}s)"
        if reason is None:
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # finished (or failed by another worker) meanwhile
        frozen = storage.get_trial(trial._trial_id)
        with _quiet_optuna():
            retry(study, frozen)
        failed.append(trial.number)
        log.warning("trial %d failed as stale (%s) and was re-queued", trial.number, reason)
        if on_failed:
            on_failed(frozen, reason)
    return failed


# search spaces -----------------------------------------------------------------------------------
def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sampled parameters -> (model config overrides, data parameters)."""
    return ({k: v for k, v in params.items() if k not in DATA_PARAMS},
            {k: v for k, v in params.items() if k in DATA_PARAMS})


def model_search_space(model_name: str) -> SearchSpace:
    """The model's declared ``search_space(trial)`` (config overrides; no data parameters)."""
    from benchmark.registry import MODELS
    cls = MODELS.get(model_name)
    return lambda trial: (dict(cls.search_space(trial)), {})


def grid_search_space(params: dict[str, Any]) -> SearchSpace:
    """A suite's ``study.params``: name -> list of choices (categorical) or {low, high, log} (float)."""
    def space(trial: optuna.trial.BaseTrial) -> tuple[dict[str, Any], dict[str, Any]]:
        out: dict[str, Any] = {}
        for name, spec in params.items():
            if isinstance(spec, (list, tuple)):
                out[name] = trial.suggest_categorical(name, list(spec))
            elif isinstance(spec, dict) and "low" in spec:
                if isinstance(spec["low"], int) and isinstance(spec["high"], int) and not spec.get("log"):
                    out[name] = trial.suggest_int(name, spec["low"], spec["high"])
                else:
                    out[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]),
                                                    log=bool(spec.get("log", False)))
            else:
                raise ValueError(f"study parameter {name!r}: give a list of choices or {{low, high, log}}, "
                                 f"got {spec!r}")
        return split_params(out)
    return space


# data: train/test ratio --------------------------------------------------------------------------
def concat_tables(a: FeatureTable, b: FeatureTable) -> FeatureTable:
    """Rows of ``a`` then ``b`` (shared unique-row storage is concatenated and re-indexed)."""
    if set(a.columns) != set(b.columns) or set(a.shared) != set(b.shared):
        raise ValueError("cannot concatenate feature tables with different features")
    shared = {}
    for key, (rows_a, idx_a) in a.shared.items():
        rows_b, idx_b = b.shared[key]
        if rows_a is rows_b:
            shared[key] = (rows_a, torch.cat([idx_a, idx_b]))
        else:
            shared[key] = (torch.cat([rows_a, rows_b]), torch.cat([idx_a, idx_b + len(rows_a)]))
    return FeatureTable(item_ids=a.item_ids + b.item_ids, labels=torch.cat([a.labels, b.labels]),
                        events=torch.cat([a.events, b.events]),
                        columns={k: torch.cat([v, b.columns[k]]) for k, v in a.columns.items()}, shared=shared)


def resplit_train_test(features: FeatureSplits, train_ratio: float, seed: int) -> FeatureSplits:
    """Pool train+test and split them again with ``train_ratio`` of each label in train (seeded).

    Validation is left as loaded, so trials with different ratios are selected on the same items;
    the test split differs by ratio (as in the paper's Table 3) and is only reported.
    """
    if not 0.0 < float(train_ratio) < 1.0:
        raise ValueError(f"train_test_ratio must be in (0, 1), got {train_ratio}")
    pool = concat_tables(features.train, features.test)
    rng = np.random.default_rng(seed)
    labels = pool.labels.numpy()
    test_idx: list[int] = []
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        n_test = int(round(len(where) * (1.0 - float(train_ratio))))
        n_test = min(max(n_test, 1), len(where) - 1) if len(where) >= 2 else 0
        test_idx.extend(rng.choice(where, size=n_test, replace=False).tolist())
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test_idx] = True
    train = pool.subset(torch.as_tensor(np.flatnonzero(~is_test)))
    test = pool.subset(torch.as_tensor(np.flatnonzero(is_test)))
    return dataclasses.replace(features, train=train, test=test)


def parse_ratio(value: Any) -> float:
    """0.8, '0.8' or '80:20' -> 0.8 (share of train+test that trains)."""
    if isinstance(value, str) and ":" in value:
        a, b = (float(x) for x in value.split(":", 1))
        return a / (a + b)
    return float(value)


# tracking ----------------------------------------------------------------------------------------
SweepTracker = Tracker  # the suite tracker; ``tracking_uri`` points it at a server (workers on many machines)


# one sweep ---------------------------------------------------------------------------------------
@dataclass
class SweepContext:
    """Everything a worker needs to run trials of one study."""

    study_name: str
    model: str
    variant: str
    dataset: str
    trials: int
    storage_url: str
    workdir: Path
    space: SearchSpace
    metric: str = "val_accuracy"
    seed: int = 0
    max_epochs: int | None = None
    limit: int | None = None
    device: str = "auto"
    experiment: str = "sweep"  # MLflow experiment bench/<experiment>
    tracking_uri: str | None = None
    heartbeat_interval: int = DEFAULT_HEARTBEAT_S
    grace_period: int = DEFAULT_GRACE_S
    max_retry: int = 3
    pruner_startup_trials: int = 5
    pruner_warmup_epochs: int = 1
    enqueue: list[dict[str, Any]] = field(default_factory=list)  # trials to run first (e.g. the paper's)
    identity: dict[str, Any] = field(default_factory=dict)  # extra study attrs that must match on resume
    load: Callable[[], FeatureSplits] | None = None  # loads the base features (lazily, once)
    extra_tags: dict[str, str] = field(default_factory=dict)
    report_info: dict[str, Any] = field(default_factory=dict)  # suite, slot, slot_label, data_source
    say: Callable[[str], None] = lambda message: print(message, flush=True)

    def __post_init__(self) -> None:
        check_metric(self.metric)
        self._features: dict[Any, FeatureSplits] = {}
        self.storage = open_storage(self.storage_url, self.heartbeat_interval, self.grace_period, self.max_retry)
        self.lock = ClaimLock(self.storage_url, self.study_name)
        with _quiet_optuna():
            self.retry = RetryStale(self.max_retry)
        self.tracker: SweepTracker | None = None
        self.parent_run: str | None = None
        self.summary: dict[str, Any] = {}

    # data
    def features(self, data_params: dict[str, Any]) -> FeatureSplits:
        if None not in self._features:
            if self.load is None:
                raise RuntimeError("SweepContext.load is not set")
            self._features[None] = self.load()
        ratio = data_params.get("train_test_ratio")
        if ratio is None:
            return self._features[None]
        key = ("ratio", parse_ratio(ratio))
        if key not in self._features:
            self._features[key] = resplit_train_test(self._features[None], key[1], self.seed)
        return self._features[key]

    # study
    def attrs(self) -> dict[str, Any]:
        return {"model": self.model, "variant": self.variant, "dataset": self.dataset, "metric": self.metric,
                "direction": "maximize", "seed": self.seed, "limit": self.limit, "max_epochs": self.max_epochs,
                **self.identity}

    def open_study(self, create: bool = True) -> optuna.Study:
        pruner = optuna.pruners.MedianPruner(n_startup_trials=self.pruner_startup_trials,
                                             n_warmup_steps=self.pruner_warmup_epochs)
        sampler = optuna.samplers.TPESampler(seed=self.seed)
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
        else:
            differ = {k: (stored.get(k), v) for k, v in self.attrs().items() if stored.get(k) != v}
            if differ:
                raise SystemExit(
                    f"study {self.study_name!r} in {redact(self.storage_url)} was created with different "
                    f"settings: " + ", ".join(f"{k}: stored {a!r}, asked {b!r}" for k, (a, b) in differ.items())
                    + ". Re-run with the stored settings to resume it, or pick another --study name.")
        return study

    def counts(self, study: optuna.Study) -> dict[str, int]:
        out = {s.name: 0 for s in TrialState}
        for t in study.get_trials(deepcopy=False):
            out[t.state.name] += 1
        return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def check_metric(metric: str) -> str:
    """Objective metrics are validation metrics: ``val_<name>`` with a known name."""
    if not metric.startswith("val_") or metric[4:] not in METRIC_NAMES:
        raise SystemExit(f"--metric {metric!r}: the objective must be a validation metric, one of "
                         f"{['val_' + m for m in METRIC_NAMES]} (test metrics are reported, never optimised)")
    return metric


def objective_value(result, metric: str) -> float:
    """The objective of a finished trial: the selected epoch's VALIDATION metric (never test)."""
    return float(result.validation.metrics[metric[len("val_"):]])


def claim_trial(study: optuna.Study, ctx: SweepContext, poll_s: float = 1.0) -> optuna.Trial | None:
    """Under the claim lock: recover stale trials, then ask for a trial if fewer than N are finished
    or running. Returns None when N trials are finished; waits while the last ones run elsewhere."""
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
                study.sampler = optuna.samplers.TPESampler(seed=ctx.seed * 1_000_003 + len(trials))
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
        except Exception:
            log.debug("could not close MLflow run %s", run_id, exc_info=True)
    return close


def run_trial(trial: optuna.Trial, ctx: SweepContext) -> float:
    """Train one configuration under the clean protocol; returns the validation objective.

    The test split is evaluated once after selection by ``train_model`` and stored as user attrs and
    MLflow metrics for the report; it never reaches the sampler or the pruner.
    """
    from benchmark.engine import resolve_device, train_model
    from benchmark.models.base import PrepareContext
    from benchmark.variants import build_model, resolve_config

    overrides, data_params = ctx.space(trial)
    trial.set_user_attr("sampled", {**overrides, **data_params})
    overrides = dict(overrides)
    if ctx.max_epochs is not None:
        overrides["max_epochs"] = min(int(overrides.get("max_epochs", ctx.max_epochs)), int(ctx.max_epochs))
    features = ctx.features(data_params)
    config = resolve_config(ctx.model, ctx.variant, overrides)
    device = resolve_device(ctx.device)
    tracker, run_id = ctx.tracker, None
    if tracker is not None and ctx.parent_run:
        tags = {"study": ctx.study_name, "trial": str(trial.number), "model": ctx.model, "variant": ctx.variant,
                "dataset_name": ctx.dataset, "protocol": "clean", "state": "RUNNING", "seed": str(ctx.seed),
                "git_commit": git_commit(), "encoder.text": features.encoders.get("text", ""),
                "encoder.image": features.encoders.get("image", ""), **ctx.extra_tags,
                **{f"param.{k}": str(v) for k, v in trial.params.items()}}
        retried = ctx.storage.get_trial(trial._trial_id).system_attrs.get("failed_trial")
        if retried is not None:
            tags["retry_of"] = str(retried)
        run_id = tracker.start_cell(ctx.experiment, ctx.parent_run, f"trial {trial.number}", tags)
        tracker.set_tags(run_id, {"kind": "trial"})
        trial.set_user_attr("mlflow_run_id", run_id)
        tracker.log_params(run_id, {**dataclasses.asdict(config), **{f"data.{k}": v for k, v in data_params.items()},
                                    "seed": ctx.seed, "n_train": len(features.train),
                                    "n_validation": len(features.validation), "n_test": len(features.test)})

    def on_epoch(epoch: int, record: dict[str, float]) -> None:
        if run_id is not None:
            tracker.log_metrics(run_id, {k: v for k, v in record.items() if k != "epoch"}, step=epoch)
        trial.report(float(record[ctx.metric]), epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} ({ctx.metric}={record[ctx.metric]:.4f})")

    started = time.time()
    try:
        torch.manual_seed(ctx.seed)
        model = build_model(ctx.model, config, features.dims)
        context = PrepareContext(device=device, seed=ctx.seed, cache_dir=ctx.workdir / "pretrained",
                                 log_artifact=(lambda p: tracker.log_artifact(run_id, p)) if run_id else None,
                                 log_metrics=(lambda m, step=0: tracker.log_metrics(run_id, m, step)) if run_id else None)
        result = train_model(model, features, protocol="clean", seed=ctx.seed, device=device,
                             on_epoch=on_epoch, prepare_context=context)
    except optuna.TrialPruned:
        if run_id is not None:
            tracker.set_tags(run_id, {"state": "PRUNED"})
            tracker.end(run_id, "FINISHED")
        raise
    except BaseException as exc:
        if run_id is not None:
            tracker.set_tags(run_id, {"state": "FAIL", "error": f"{type(exc).__name__}: {exc}"[:4000]})
            tracker.log_files(run_id, {"traceback.txt": traceback.format_exc()})
            tracker.end(run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    value = objective_value(result, ctx.metric)
    report = {**{f"test_{k}": v for k, v in result.test.metrics.items()},
              **{f"selected_val_{k}": v for k, v in result.validation.metrics.items()},
              "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
              "train_seconds": time.time() - started}
    for key, val in report.items():
        trial.set_user_attr(key, float(val))
    if run_id is not None:
        tracker.log_metrics(run_id, {**report, "objective": value}, step=result.epochs_run)
        tracker.log_files(run_id, {"history.csv": result.history, "config.json": {
            "model": ctx.model, "variant": ctx.variant, "config": dataclasses.asdict(config),
            "data_params": data_params, "dataset": ctx.dataset, "metric": ctx.metric, "seed": ctx.seed}})
        tracker.set_tags(run_id, {"state": "COMPLETE"})
        tracker.end(run_id, "FINISHED")
    return value


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
                log.debug("trial %d failed", trial.number, exc_info=True)
        if not _tell(study, trial, state, value):
            stats.lost += 1
            continue
        if state == TrialState.COMPLETE:
            stats.complete += 1
            test = trial.user_attrs if isinstance(trial.user_attrs, dict) else {}
            ctx.say(f"[trial {trial.number}] COMPLETE {ctx.metric}={value:.4f} "
                    f"(test accuracy {test.get('test_accuracy', float('nan')):.4f}, reported only) {trial.params}")
        elif state == TrialState.PRUNED:
            stats.pruned += 1
            ctx.say(f"[trial {trial.number}] PRUNED {trial.params}")
        else:
            stats.failed += 1
            ctx.say(f"[trial {trial.number}] FAILED {error} {trial.params}")
            if stats.failed >= limit:
                raise RuntimeError(f"{stats.failed} trials failed in this worker (last: {error}); stopping. "
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


# parent run, summary -----------------------------------------------------------------------------
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
        except Exception:
            log.info("study parent run %s not in this tracking store; starting a new one", run_id)
    tags = {"study": ctx.study_name, "model": ctx.model, "variant": ctx.variant, "dataset_name": ctx.dataset,
            "metric": ctx.metric, "direction": "maximize", "storage": redact(ctx.storage_url), "protocol": "clean",
            "started": _now(), "git_commit": git_commit(), **ctx.extra_tags,
            **{f"version.{k}": v for k, v in package_versions().items()}}
    run_id = tracker.start_parent(ctx.experiment, tags, {"trials": ctx.trials, "seed": ctx.seed,
                                                         "limit": ctx.limit, "max_epochs": ctx.max_epochs})
    tracker.set_tags(run_id, {"kind": "study", "mlflow.runName": f"study {ctx.study_name}"})
    study.set_user_attr("mlflow_parent_run", run_id)
    return run_id


def summarize(study: optuna.Study, ctx: SweepContext) -> dict[str, Any]:
    """Store the best parameters: study user attrs, ``<workdir>/sweeps/<study>.json``, MLflow artifact."""
    counts = ctx.counts(study)
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    summary: dict[str, Any] = {
        "study": ctx.study_name, "model": ctx.model, "variant": ctx.variant, "dataset": ctx.dataset,
        "metric": ctx.metric, "direction": "maximize", "protocol": "clean", "storage": redact(ctx.storage_url),
        "trials_requested": ctx.trials, "n_complete": counts["COMPLETE"], "n_pruned": counts["PRUNED"],
        "n_failed": counts["FAIL"], "limit": ctx.limit, "max_epochs": ctx.max_epochs, "seed": ctx.seed,
        "updated": _now(), "mlflow_parent_run": study.user_attrs.get("mlflow_parent_run"),
        "best_trial": None, "best_value": None, "best_params": None, "best_overrides": None,
        "best_data_params": None, "best_trial_test_metrics_reported_only": None, **ctx.report_info}
    if complete:
        best = study.best_trial
        overrides, data_params = split_params(dict(best.user_attrs.get("sampled") or best.params))
        summary.update({"best_trial": best.number, "best_value": best.value, "best_params": best.params,
                        "best_overrides": overrides, "best_data_params": data_params,
                        "best_trial_test_metrics_reported_only": {
                            k: v for k, v in best.user_attrs.items() if k.startswith("test_")}})
        for key in ("best_params", "best_value", "best_overrides", "best_trial"):
            study.set_user_attr(key, summary[key])
    study.set_user_attr("updated", summary["updated"])
    ctx.summary = summary
    out = Path(ctx.workdir) / "sweeps" / f"{_safe(ctx.study_name)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    if ctx.tracker is not None and ctx.parent_run:
        ctx.tracker.log_files(ctx.parent_run, {"best_params.json": summary})
        ctx.tracker.log_metrics(ctx.parent_run, {"best_value": summary["best_value"], "n_complete": counts["COMPLETE"],
                                                 "n_pruned": counts["PRUNED"], "n_failed": counts["FAIL"]})
        ctx.tracker.set_tags(ctx.parent_run, {"best_trial": summary["best_trial"],
                                              **{f"best.{k}": v for k, v in (summary["best_params"] or {}).items()}})
    return summary


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def run_study(ctx: SweepContext, workers: int = 1, worker_argv: Callable[[int], list[str]] | None = None,
              parent_run: str | None = None, write_summary: bool = True,
              worker_env: dict[str, str] | None = None) -> tuple[optuna.Study, int]:
    """Create/resume the study and run it to ``ctx.trials`` finished trials; returns (study, rc).

    ``workers > 1`` starts that many worker processes (``worker_argv(i)``: the command of worker i)
    after the features are cached and the parent run exists, and waits for them. ``worker_env``: extra
    environment variables of the workers (secrets travel there, never on their command line).
    """
    study = ctx.open_study(create=True)
    counts = ctx.counts(study)
    done = counts["COMPLETE"] + counts["PRUNED"]
    ctx.say(f"[sweep] study {ctx.study_name} in {redact(ctx.storage_url)}: {done}/{ctx.trials} finished "
            f"({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed, "
            f"{counts['RUNNING']} running)")
    ctx.tracker = SweepTracker(ctx.workdir, tracking_uri=ctx.tracking_uri)
    owns_parent = parent_run is None
    ctx.parent_run = parent_run or open_parent_run(study, ctx)
    rc, status = 0, "FINISHED"
    try:
        if workers > 1:
            if worker_argv is None:
                raise ValueError("workers > 1 needs worker_argv")
            ctx.features({})  # featurise once here so workers only read the cache
            env = {**os.environ, **(worker_env or {})}
            procs = [subprocess.Popen(worker_argv(i), env=env) for i in range(workers)]
            ctx.say(f"[sweep] started {workers} workers: pids {[p.pid for p in procs]}")
            codes = [p.wait() for p in procs]
            if any(codes):
                ctx.say(f"[sweep] worker exit codes {codes}")
                rc = 1
        else:
            stats = run_worker(study, ctx)
            ctx.say(f"[sweep] this worker: {stats.complete} complete, {stats.pruned} pruned, "
                    f"{stats.failed} failed, {stats.lost} lost to stale detection")
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        status, rc = "FAILED", 1
        raise
    finally:
        if owns_parent:
            if write_summary:
                summary = summarize(study, ctx)
                if summary["best_trial"] is not None:
                    ctx.say(f"[sweep] best trial {summary['best_trial']}: {ctx.metric}={summary['best_value']:.4f} "
                            f"params {summary['best_params']}")
            ctx.tracker.end(ctx.parent_run, status)
    return study, rc


# bench sweep -------------------------------------------------------------------------------------
def _run_options(args, data_root: Path | None, explicit: bool, suite: str):
    from benchmark.runner import RunOptions
    return RunOptions(suite=suite, data_root=data_root, data_root_explicit=explicit,
                      workdir=Path(args.workdir or os.environ.get("BENCH_WORKDIR", "bench-runs")),
                      device=getattr(args, "device", "auto"), on_missing_image=getattr(args, "on_missing_image", "drop"),
                      split=getattr(args, "split", "random"),
                      keep_humor=getattr(args, "keep_humor", False), allow_leaks=getattr(args, "allow_leaks", False),
                      text_encoder=getattr(args, "text_encoder", None), image_encoder=getattr(args, "image_encoder", None),
                      text_encoder_path=getattr(args, "text_encoder_path", None),
                      image_encoder_path=getattr(args, "image_encoder_path", None))


STORAGE_ENV = "BENCH_SWEEP_STORAGE"


def storage_secret(storage_url: str) -> bool:
    """Whether the URL carries a password (then it must not appear on a command line, visible in `ps`)."""
    return redact(storage_url) != storage_url


def _worker_argv(args, storage_url: str, parent_run: str) -> Callable[[int], list[str]]:
    """Worker command lines; a storage URL with a password is left out (it reaches the workers through
    ``$BENCH_SWEEP_STORAGE``, see ``run_study(worker_env=...)``)."""
    storage = [] if storage_secret(storage_url) else ["--storage", storage_url]

    def argv(index: int) -> list[str]:
        cmd = [sys.executable, "-m", "benchmark.cli", "sweep", "--model", args.model, "--variant", args.variant,
               "--dataset", args.dataset, "--trials", str(args.trials), "--study", args.study,
               *storage, "--workers", "1", "--metric", args.metric, "--seed", str(args.seed),
               "--device", args.device, "--parent-run", parent_run, "--worker-index", str(index),
               "--heartbeat-interval", str(args.heartbeat_interval), "--grace-period", str(args.grace_period),
               "--on-missing-image", args.on_missing_image, "--split", getattr(args, "split", "random")]
        for flag, value in (("--max-epochs", args.max_epochs), ("--limit", args.limit),
                            ("--workdir", args.workdir), ("--data-root", args.data_root),
                            ("--tracking-uri", args.tracking_uri)):
            if value is not None:
                cmd += [flag, str(value)]
        if args.keep_humor:
            cmd.append("--keep-humor")
        return cmd
    return argv


def cli_sweep(args) -> int:
    """``bench sweep``: run (or resume) an Optuna study over the model's search space."""
    from benchmark.registry import DATASETS, MODELS
    from benchmark.runner import default_data_root, load_features
    from benchmark.variants import get_variant

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    MODELS.get(args.model)
    get_variant(args.model, args.variant)
    DATASETS.get(args.dataset)
    if args.trials < 1 or args.workers < 1:
        raise SystemExit("--trials and --workers must be at least 1")
    for name in ("heartbeat_interval", "grace_period", "tracking_uri", "parent_run", "worker_index"):
        if not hasattr(args, name):
            setattr(args, name, {"heartbeat_interval": DEFAULT_HEARTBEAT_S,
                                 "grace_period": DEFAULT_GRACE_S}.get(name))
    data_root = Path(args.data_root) if args.data_root else default_data_root()
    options = _run_options(args, data_root, bool(args.data_root), "sweep")
    workdir = Path(options.workdir)
    storage_url = resolve_storage_url(args.storage or os.environ.get(STORAGE_ENV), workdir, args.workers, args.study)
    worker = args.parent_run is not None
    say = (lambda m: print(f"[worker {args.worker_index}] {m}", flush=True)) if worker else \
        (lambda m: print(m, flush=True))
    ctx = SweepContext(
        study_name=args.study, model=args.model, variant=args.variant, dataset=args.dataset, trials=args.trials,
        storage_url=storage_url, workdir=workdir, space=model_search_space(args.model), metric=args.metric,
        seed=args.seed, max_epochs=args.max_epochs, limit=args.limit, device=args.device,
        tracking_uri=args.tracking_uri, heartbeat_interval=args.heartbeat_interval,
        grace_period=args.grace_period, say=say,
        load=lambda: load_features(args.dataset, options, args.limit, say=say)[1])
    if worker:
        study = ctx.open_study(create=False)
        ctx.tracker = SweepTracker(workdir, tracking_uri=args.tracking_uri)
        ctx.parent_run = args.parent_run
        stats = run_worker(study, ctx)
        say(f"done: {stats.complete} complete, {stats.pruned} pruned, {stats.failed} failed, {stats.lost} lost")
        return 0
    if args.workers > 1 and not is_journal(storage_url) and storage_url.startswith("sqlite"):
        print("[sweep] note: several workers on an SQLite study; prefer the journal file or PostgreSQL",
              flush=True)
    # the parent run id exists only once run_study has opened it; the worker command reads it then
    _, rc = run_study(ctx, workers=args.workers,
                      worker_argv=lambda i: _worker_argv(args, storage_url, ctx.parent_run or "")(i),
                      worker_env={STORAGE_ENV: storage_url} if storage_secret(storage_url) else None)
    counts = ctx.counts(ctx.open_study(create=False))
    print(f"[sweep] study {args.study}: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
          f"{counts['FAIL']} failed, {counts['RUNNING']} running; best params in "
          f"{workdir / 'sweeps' / (_safe(args.study) + '.json')}", flush=True)
    return rc


# bench run --params best -------------------------------------------------------------------------
def stored_sweeps(workdir: Path) -> list[dict[str, Any]]:
    folder = Path(workdir) / "sweeps"
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("skipping unreadable sweep summary %s: %s", path, exc)
            continue
        data["_path"] = str(path)
        out.append(data)
    return out


def suite_models(suite) -> list[str]:
    from benchmark.runner import suite_rows
    models = [row.model for row in suite_rows(suite)]
    if suite.kind == "sweep" and suite.study:
        models.append(pick_study_model(suite.study)[0])
    return list(dict.fromkeys(models))


def best_params_for_suite(workdir: Path, suite, say: Callable[[str], None] = lambda m: print(m, flush=True),
                          ) -> dict[str, dict[str, Any]]:
    """{model: config overrides} from the latest stored study (with a best trial) of each suite model."""
    from benchmark.registry import MODELS
    models = suite_models(suite)
    latest: dict[str, dict[str, Any]] = {}
    for data in stored_sweeps(workdir):
        model = data.get("model")
        if model in models and data.get("best_overrides") is not None:
            if model not in latest or str(data.get("updated", "")) >= str(latest[model].get("updated", "")):
                latest[model] = data
    if not latest:
        raise SystemExit(f"--params best: no stored sweep with a finished trial for the models of suite "
                         f"{suite.name} ({', '.join(models)}) under {Path(workdir) / 'sweeps'}; run `bench sweep "
                         f"--model M --dataset D --trials N --study NAME --workdir {workdir}` first")
    out: dict[str, dict[str, Any]] = {}
    for model, data in latest.items():
        fields = MODELS.get(model).config_class.field_names()
        overrides = {k: v for k, v in data["best_overrides"].items() if k in fields}
        dropped = sorted(set(data["best_overrides"]) - set(overrides))
        out[model] = overrides
        say(f"[params] {model}: {overrides} from study {data['study']} ({data['metric']}="
            f"{data['best_value']:.4f}, trial {data['best_trial']})" + (f"; not config keys, ignored: {dropped}"
                                                                        if dropped else ""))
    for model in models:
        if model not in out:
            say(f"[params] {model}: no stored sweep; paper defaults")
    return out


# the table3 suite --------------------------------------------------------------------------------
def pick_study_model(study: dict[str, Any]) -> tuple[str, str]:
    """The suite's study model, or its ``fallback`` while that model is not registered."""
    from benchmark.registry import MODELS, VARIANTS
    model, variant = study["model"], study.get("variant", "default")
    if model in MODELS and (variant == "default" or f"{model}:{variant}" in VARIANTS):
        return model, variant
    fallback = study.get("fallback")
    if fallback:
        return fallback["model"], fallback.get("variant", "default")
    return model, variant


def suite_trials(suite, args) -> int:
    value = getattr(args, "trials", None) or os.environ.get("BENCH_SWEEP_TRIALS") or suite.study.get("trials", 20)
    return int(value)


def run_sweep_suite(suite, args, data_root: Path) -> int:
    """``bench run --suite table3``: run/resume the suite's study per dataset slot and write the report."""
    from benchmark.registry import load_plugins
    from benchmark.runner import SYNTHETIC_BANNER, load_features, resolve_slots

    load_plugins()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if getattr(args, "protocol", "clean") != "clean":
        print(f"bench: suite {suite.name} is a sweep; its objective is the validation metric under the clean "
              f"protocol, so --protocol {args.protocol} does not apply", file=sys.stderr)
        return 2
    if getattr(args, "params", None):
        print(f"bench: --params does not apply to the sweep suite {suite.name} (it searches the parameters)",
              file=sys.stderr)
        return 2
    spec = suite.study
    model, variant = pick_study_model(spec)
    if (model, variant) != (spec["model"], spec.get("variant", "default")):
        print(f"[sweep] {spec['model']}:{spec.get('variant', 'default')} is not registered; using the fallback "
              f"{model}:{variant}", flush=True)
    explicit = bool(getattr(args, "data_root", None))
    options = _run_options(args, data_root, explicit, suite.name)
    workdir = Path(options.workdir)
    wanted = tuple(getattr(args, "dataset", None) or ())
    resolutions = [r for r in resolve_slots(suite.datasets, data_root) if not wanted or r.slot.id in wanted]
    limit = args.limit if getattr(args, "limit", None) is not None else suite.limit
    max_epochs = args.max_epochs if getattr(args, "max_epochs", None) is not None else suite.max_epochs
    metric = spec.get("metric", "val_accuracy")
    trials = suite_trials(suite, args)
    if any(r.source == "synthetic" for r in resolutions):
        print(SYNTHETIC_BANNER, flush=True)
    rc = 0
    for res in resolutions:
        if res.dataset is None:
            print(f"[{res.slot.label}] not available: {res.reason}", flush=True)
            continue
        name = "-".join([suite.name, model, variant, res.dataset] + ([f"limit{limit}"] if limit else [])
                        + ([f"ep{max_epochs}"] if max_epochs else []))
        paper = dict(spec.get("paper_best") or {})
        ctx = SweepContext(
            study_name=name, model=model, variant=variant, dataset=res.dataset, trials=trials,
            storage_url=resolve_storage_url(spec.get("storage"), workdir, 1, name), workdir=workdir,
            space=grid_search_space(spec["params"]), metric=metric, seed=int(spec.get("seed", 0)),
            max_epochs=max_epochs, limit=limit, device=getattr(args, "device", "auto"), experiment=suite.name,
            enqueue=[paper] if paper else [], identity={"suite": suite.name, "slot": res.slot.id},
            extra_tags={"suite": suite.name, "dataset": res.slot.id, "data_source": res.source},
            report_info={"suite": suite.name, "slot": res.slot.id, "slot_label": res.slot.label,
                         "data_source": res.source},
            pruner_startup_trials=int(spec.get("pruner_startup_trials", 5)),
            load=lambda ds=res.dataset: load_features(ds, options, limit)[1])
        study, code = run_study(ctx)
        rc = rc or code
        suffix = "" if len(resolutions) == 1 else f"-{res.slot.id}"
        for path in write_study_report(study, suite, ctx.summary, workdir, ctx.tracker, ctx.parent_run,
                                       suffix=suffix):
            print(f"[report] {path}", flush=True)
    return rc


def trials_frame(study: optuna.Study, metric: str, test_metrics: tuple[str, ...] = ("accuracy",)) -> pd.DataFrame:
    """One row per trial from the storage alone, ranked by the validation objective (test: reported)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.WAITING, TrialState.RUNNING):
            continue
        sampled = t.user_attrs.get("sampled") or t.params
        last = t.intermediate_values[t.last_step] if t.last_step is not None else None
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name, **sampled,
                               metric: t.value if t.state == TrialState.COMPLETE else last}
        for m in test_metrics:
            row[f"test_{m}"] = t.user_attrs.get(f"test_{m}")
        row["best_epoch"] = t.user_attrs.get("best_epoch")
        row["epochs_run"] = t.user_attrs.get("epochs_run")
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2}
    frame["_state"] = frame["state"].map(order).fillna(3)
    frame = frame.sort_values(["_state", metric, "trial"], ascending=[True, False, True], na_position="last")
    frame = frame.drop(columns="_state").reset_index(drop=True)
    for col in ("best_epoch", "epochs_run"):
        frame[col] = pd.array(frame[col], dtype="Int64")
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


def _markdown(frame: pd.DataFrame) -> str:
    def fmt(v: Any) -> str:
        if v is None or (np.isscalar(v) or v is pd.NA) and pd.isna(v):
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}" if abs(v) < 1e-2 and v != 0 else f"{v:.3f}" if v != int(v) or abs(v) < 1 else f"{v:g}"
        return str(v)
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(fmt(row[c]) for c in cols) + " |")
    return "\n".join(lines)


def importance_figure(study: optuna.Study, out_base: Path) -> tuple[list[Path], str]:
    """fANOVA parameter importances as a bar chart (PNG + PDF); or a note why there are none."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return [], (f"parameter importances need at least 2 complete trials (have {len(complete)}); "
                    f"run more trials")
    try:
        importances = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (RuntimeError, ValueError) as exc:
        return [], f"parameter importances not available: {exc}"
    if not importances:
        return [], "parameter importances not available: no parameter varied across complete trials"
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(names) + 1.2))
    ax.barh(names, [importances[n] for n in names], color="#4477aa")
    ax.set_xlabel("fANOVA importance for the validation objective")
    ax.set_title(f"{study.study_name} ({len(complete)} complete trials)", fontsize=8)
    fig.tight_layout()
    paths = [out_base.with_suffix(".png"), out_base.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    note = "importances (fANOVA): " + ", ".join(f"{k} {v:.2f}" for k, v in importances.items())
    if len(complete) < 5:
        note += f" (only {len(complete)} complete trials: indicative at best)"
    return paths, note


def write_study_report(study: optuna.Study, suite, summary: dict[str, Any], workdir: Path,
                       tracker: SweepTracker | None = None, parent_run: str | None = None,
                       suffix: str = "") -> list[Path]:
    """``<workdir>/reports/<suite>/table{suffix}.md|.tex|.csv`` and ``importance{suffix}.png|.pdf``,
    from the study storage and its stored summary alone."""
    out = Path(workdir) / "reports" / suite.name
    out.mkdir(parents=True, exist_ok=True)
    metric = summary["metric"]
    frame = trials_frame(study, metric, tuple(suite.metrics))
    counts = {s.name: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] += 1
    figures, note = importance_figure(study, out / f"importance{suffix}")
    paper = dict(suite.study.get("paper_best") or {})
    paper_rank = ""
    if paper and not frame.empty:
        match = frame[[all(str(r.get(k)) == str(v) for k, v in paper.items()) for _, r in frame.iterrows()]]
        if not match.empty:
            paper_rank = (f"; the paper's best configuration {paper} ranks {int(match['rank'].iloc[0])} "
                          f"of {len(frame)}")
    source = summary.get("data_source", "")
    header = [
        f"# {suite.title}",
        "",
        f"Model {summary['model']} (variant {summary['variant']}) on {summary.get('slot_label', summary['dataset'])} "
        f"({source}: {summary['dataset']}); protocol clean: trials ranked by {metric} of the selected epoch "
        f"(the objective); test metrics evaluated once per trial after selection and reported only. "
        f"Study {summary['study']}: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} "
        f"failed of {summary['trials_requested']} requested"
        + (f"; epochs capped at {summary['max_epochs']}" if summary.get("max_epochs") else "")
        + (f"; splits limited to {summary['limit']} items" if summary.get("limit") else "") + paper_rank + ".",
        "",
        "train_test_ratio: share of train+test used for training after a seeded stratified re-split; the "
        "validation split is fixed across trials. max_epochs is an upper bound (early stopping on validation).",
        "",
        "",
    ]
    if source == "synthetic":
        header.insert(0, "**SYNTHETIC DATA: these numbers say nothing about the paper.**\n")
    body = _markdown(frame) if not frame.empty else "(no finished trials)"
    # the swept model's declared deviations from its paper, as under every other table
    from benchmark.deviations import footnote_lines
    deviations = footnote_lines([(f"{summary['model']}:{summary['variant']}", summary["model"], summary["variant"])])
    paths = [out / f"table{suffix}.md", out / f"table{suffix}.tex", out / f"table{suffix}.csv"]
    paths[0].write_text("\n".join(header) + body + "\n\n" + note + "\n"
                        + "".join(f"\n- {line}" for line in deviations) + ("\n" if deviations else ""),
                        encoding="utf-8")
    latex = frame.to_latex(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-",
                           caption=f"{suite.title}. Ranked by {metric} (clean protocol); test reported only.",
                           label=f"tab:{suite.name}") if not frame.empty else "% no finished trials\n"
    paths[1].write_text(latex, encoding="utf-8")
    frame.to_csv(paths[2], index=False)
    if tracker is not None and parent_run:
        tracker.log_files(parent_run, {p.name: p for p in paths + figures})
    return paths + figures


def write_sweep_report(suite, workdir: Path) -> list[Path]:
    """``bench report --suite table3``: rebuild the report of the latest stored study of each slot."""
    latest: dict[str, dict[str, Any]] = {}
    for data in stored_sweeps(workdir):
        if data.get("suite") == suite.name:
            slot = data.get("slot", "")
            if slot not in latest or str(data.get("updated", "")) >= str(latest[slot].get("updated", "")):
                latest[slot] = data
    paths: list[Path] = []
    for slot, data in sorted(latest.items()):
        storage = os.environ.get(STORAGE_ENV) if "***" in data["storage"] else data["storage"]
        if not storage:
            log.warning("study %s: its storage URL has a hidden password; set BENCH_SWEEP_STORAGE to rebuild "
                        "its report", data["study"])
            continue
        study = optuna.load_study(study_name=data["study"], storage=open_storage(storage))
        suffix = "" if len(latest) == 1 else f"-{slot}"
        paths += write_study_report(study, suite, data, workdir, suffix=suffix)
    return paths
