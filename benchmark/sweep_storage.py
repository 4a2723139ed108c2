"""Optuna study storage shared by sweep workers: where a study lives, who may claim a trial, which
trials are stale.

* Storage: an SQLite file ``<workdir>/optuna.db`` for one worker, Optuna's journal file
  ``<workdir>/optuna-journal.log`` for several local workers, any SQLAlchemy URL (PostgreSQL) for
  workers on several machines. The MLflow store is another file (or a tracking server).
* Optuna's own machinery where it exists: ``RDBStorage(heartbeat_interval, grace_period,
  heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback)`` with ``storage.record_heartbeat``
  and ``optuna.storages.fail_stale_trials`` for SQL storages.
* Hand-written only where Optuna lacks it, and why:
  - ``ClaimLock``: ``MaxTrialsCallback`` stops a worker only after its trial ends, so K concurrent
    workers overshoot N trials by up to K-1; counting and asking under one lock does not.
  - ``Heartbeat`` runs the beats in a thread because trials are claimed with ``ask``/``tell`` (the claim
    lock), and Optuna beats only inside ``Study.optimize``; Optuna's ``JournalStorage`` has no
    heartbeat at all, so there the beat is a trial system attribute and ``recover_stale_trials`` fails
    RUNNING trials whose beat is older than the grace period. A trial whose worker pid is gone on this
    host is failed at once on every storage.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from benchmark.redaction import mask as redact  # the storage URL without its password
from benchmark.tracking import pid_alive

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
DEFAULT_HEARTBEAT_S = 60
DEFAULT_GRACE_S = 180
STORAGE_ENV = "BENCH_SWEEP_STORAGE"  # a storage URL with a password reaches workers and reports here


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


# study summaries ---------------------------------------------------------------------------------
def safe_name(name: str) -> str:
    """A study name as a file name (``<workdir>/sweeps/<name>.json``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def stored_sweeps(workdir: Path) -> list[dict[str, Any]]:
    """Every study summary under ``<workdir>/sweeps`` (unreadable ones skipped with a warning)."""
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
