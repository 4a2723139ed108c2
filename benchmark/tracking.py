"""MLflow tracking: a SQLite store inside the work directory, or one MLflow tracking server.

Many writers (runs submitted from several machines, sweeps on several hosts) share one ``mlflow
server`` with a PostgreSQL backend store: ``--tracking-uri http://host:5000`` or
``$BENCH_TRACKING_URI``. The server's artifact root must be a folder on storage this host also sees
(``mlflow server --default-artifact-root /shared/... --no-serve-artifacts``): reports and the
finished-cell check read artifacts as files.

One experiment per suite; one parent run per ``bench run`` invocation; one child run per cell with
params, per-epoch metrics for every loss term, final test metrics, provenance tags and artifacts
(resolved config, per-item predictions, history). Cells already FINISHED with the same identity
(``benchmark.cells``) are reused, and a cell interrupted by a crash, Ctrl-C or SIGTERM is closed as
FAILED/KILLED, never left RUNNING; runs left RUNNING by a dead process are closed on the next start.

Artifact locations are resolved against the *current* work directory when read or written (MLflow
stores them absolute), so ``mv W W2`` keeps every stored cell readable.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from benchmark.store_health import StoreError, backups, check_database, store_uri  # noqa: F401  (StoreError: re-exported)

log = logging.getLogger(__name__)

ARTIFACT_DIR = "mlartifacts"
_STARTED_HERE: set[str] = set()  # run ids this process created (own-pid guard of close_orphans)
CELL_TAGS = ("suite", "model", "variant", "row", "dataset", "dataset_name", "data_source", "seed", "protocol")


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # "🏃 View run ... at: http://user:PW@host/..." six times per run: the URL would carry the credentials
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)


def tracking_uri(workdir: Path) -> str:
    """Explicit SQLite URI; the MLflow DB is its own file, apart from any Optuna storage."""
    return store_uri(workdir)


TRACKING_URI_ENV = "BENCH_TRACKING_URI"


def server_uri() -> str | None:
    """The MLflow tracking server every Tracker writes to (``$BENCH_TRACKING_URI``), or None (SQLite)."""
    return os.environ.get(TRACKING_URI_ENV) or None


@contextmanager
def using_tracking_uri(uri: str | None) -> Iterator[None]:
    """``--tracking-uri`` for one command: every Tracker in it (runner, reports, doctor) uses the server."""
    if not uri:
        yield
        return
    previous = os.environ.get(TRACKING_URI_ENV)
    os.environ[TRACKING_URI_ENV] = uri
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(TRACKING_URI_ENV, None)
        else:
            os.environ[TRACKING_URI_ENV] = previous


def artifact_root(workdir: Path) -> str:
    return (Path(workdir).resolve() / "mlartifacts").as_uri()


def check_store(workdir: Path, must_exist: bool) -> None:
    """Refuse a work directory whose store cannot be trusted, before anything opens (and so creates) it.

    ``must_exist``: readers (``bench report``, ``bench doctor``) need the store; a writer may start a
    new one, unless stored artifacts show that a store existed and was lost.
    """
    if server_uri():
        return  # the tracking server owns its store
    workdir = Path(workdir)
    db = workdir / "mlflow.db"
    kept = backups(workdir)
    restore = (f"`bench doctor --restore --workdir {workdir}` puts back the newest sound backup (of {len(kept)} "
               f"in {kept[0].parent})" if kept else "Restore it from a backup")
    if db.is_file():
        with db.open("rb") as handle:
            header = handle.read(16)
        if header and header != b"SQLite format 3\x00":
            raise StoreError(f"{db} is not an SQLite database (damaged or overwritten); nothing was written. "
                             f"{restore}, or move it aside to start a new store")
        problems = check_database(db) if header else []
        if problems:
            more = f" and {len(problems) - 1} more finding(s)" if len(problems) > 1 else ""
            raise StoreError(f"{db} is damaged (SQLite quick_check: {problems[0][:300]}{more}); nothing was written. "
                             f"{restore}, or move it aside to start a new store")
        return
    artifacts = workdir / ARTIFACT_DIR
    has_runs = artifacts.is_dir() and any(artifacts.glob("*/*/artifacts"))
    if must_exist:
        lost = f" although {artifacts} holds stored artifacts (the database was deleted or moved)" if has_runs else ""
        raise StoreError(f"no MLflow store at {db}{lost}; nothing was written. "
                         f"{restore}; "
                         f"check --workdir, or run `bench run --workdir {workdir} ...` first")
    if has_runs:
        raise StoreError(f"{db} is missing but {artifacts} holds stored artifacts: the database was deleted or "
                         f"moved. {restore} (the artifacts alone cannot rebuild it), or move "
                         f"{artifacts} aside to start a new store")


def git_commit(repo: Path | None = None) -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes); asked of git once per process."""
    return _git_commit(str(repo or Path(__file__).resolve().parents[1]))


@functools.lru_cache(maxsize=None)
def _git_commit(repo: str) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=5)
        commit = out.stdout.strip() if out.returncode == 0 else "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("-dirty" if dirty and commit != "unknown" else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "transformers", "mlflow", "optuna", "scikit-learn", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


CPU_ISA_FLAGS = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")  # widest first: the kernel paths bf16 and fp32 take


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def host_description(cpuinfo: str | None = None) -> dict[str, str]:
    """The machine a run computes on: CPU model, its widest vector / bf16 instruction set and torch's
    thread count in this process (the featuriser's; workers train on one thread each).

    Why: CPU results repeat exactly only on the same CPU type with the same featurising thread count
    (oneDNN picks kernels by instruction set and splits reductions by thread); a report names the hosts
    so two runs' differences can be explained. ``cpuinfo``: the text of /proc/cpuinfo (tests)."""
    import torch
    if cpuinfo is None:
        cpuinfo = _cpuinfo()
    model, flags = platform.processor() or platform.machine() or "unknown", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = set(value.split())
    isa = next((flag for flag in CPU_ISA_FLAGS if flag in flags), "none of " + "/".join(CPU_ISA_FLAGS))
    return {"cpu": model, "cpu_isa": isa, "torch_threads": str(torch.get_num_threads())}


def fingerprint(obj: Any) -> str:
    import hashlib
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# MLflow 3's UI opens an experiment on its GenAI "Traces" page unless the experiment says it holds
# model training runs; this tag is what its own "Model training" toggle writes.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


@dataclass
class Tracker:
    """Thin wrapper over MlflowClient bound to one work directory (caches, reports) and one store:
    the directory's SQLite file, or ``tracking_uri`` (default ``$BENCH_TRACKING_URI``), a server."""

    workdir: Path
    tracking_uri: str | None = None

    def __post_init__(self) -> None:
        self.open_runs: dict[str, str] = {}  # run id -> name of runs this tracker started and has not ended
        _quiet_mlflow()
        from mlflow.tracking import MlflowClient
        _quiet_mlflow()  # mlflow configures its loggers on import; lower them again
        from benchmark.workdir_lock import schema_lock
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tracking_uri = self.tracking_uri or server_uri()
        if self.tracking_uri:
            self.uri = self.tracking_uri
            self.client = MlflowClient(tracking_uri=self.uri)
            return
        self.uri = tracking_uri(self.workdir)
        with schema_lock(self.workdir):  # MLflow's first-time schema setup is not safe to race
            self.client = MlflowClient(tracking_uri=self.uri)
            self.client.search_experiments(max_results=1)

    # experiments -------------------------------------------------------------------------------
    def experiment_id(self, suite: str, create: bool = True) -> str | None:
        name = f"bench/{suite}"
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            if create and exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
                self.client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
            return exp.experiment_id
        if not create:
            return None
        tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
        if self.tracking_uri:  # the server places artifacts under its own artifact root
            return self.client.create_experiment(name, tags=tags)
        return self.client.create_experiment(name, artifact_location=f"{artifact_root(self.workdir)}/{suite}",
                                             tags=tags)

    # runs --------------------------------------------------------------------------------------
    def start_parent(self, suite: str, tags: dict[str, str], params: dict[str, Any]) -> str:
        if not self.tracking_uri:  # a damaged file is refused before this run's first write
            check_store(self.workdir, must_exist=False)
        exp = self.experiment_id(suite)
        self.close_orphans()
        run = self.client.create_run(exp, run_name=f"{suite} {tags.get('started', '')[5:16]}".strip(),
                                     tags={**tags, "kind": "suite", "pid": str(os.getpid()),
                                           "host": socket.gethostname()})
        _STARTED_HERE.add(run.info.run_id)
        self.log_params(run.info.run_id, params)
        return run.info.run_id

    def start_cell(self, suite: str, parent_id: str, name: str, tags: dict[str, str]) -> str:
        exp = self.experiment_id(suite)
        run = self.client.create_run(exp, run_name=name, tags={
            **tags, "kind": "cell", "mlflow.parentRunId": parent_id, "pid": str(os.getpid()),
            "host": socket.gethostname()})
        _STARTED_HERE.add(run.info.run_id)
        self.open_runs[run.info.run_id] = name
        return run.info.run_id

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)
        self.open_runs.pop(run_id, None)

    def close_orphans(self, experiment_ids: list[str] | None = None) -> int:
        """Mark runs left RUNNING by a dead process on this host as KILLED, in every suite by default."""
        if experiment_ids is None:
            experiment_ids = [e.experiment_id for e in self.client.search_experiments()]
        closed = 0
        if experiment_ids:
            for run in self.client.search_runs(experiment_ids, filter_string="attributes.status = 'RUNNING'",
                                               max_results=50000):
                if run_owner_gone(run.info.run_id, run.data.tags.get("host"), run.data.tags.get("pid")):
                    self.client.set_tag(run.info.run_id, "error", "process ended while the run was RUNNING")
                    self.client.set_terminated(run.info.run_id, status="KILLED")
                    closed += 1
        if closed:
            log.warning("closed %d run(s) left RUNNING by a killed process", closed)
        return closed

    def finished_cells(self, suite: str, cell_key: str, config_fp: str | None = None) -> list:
        """FINISHED runs of this cell identity (and config fingerprint, when given), newest first."""
        exp = self.experiment_id(suite, create=False)
        if exp is None:
            return []
        query = f"tags.cell_key = '{cell_key}' and attributes.status = 'FINISHED'"
        if config_fp is not None:
            query += f" and tags.config_fingerprint = '{config_fp}'"
        return self.client.search_runs([exp], filter_string=query, order_by=["attributes.start_time DESC"],
                                       max_results=100)

    def finished_cell(self, suite: str, cell_key: str, config_fp: str | None = None):
        """The latest FINISHED run of this cell (same identity and config fingerprint), or None."""
        runs = self.finished_cells(suite, cell_key, config_fp)
        return runs[0] if runs else None

    def cell_runs(self, suite: str, statuses: tuple[str, ...] = ("FINISHED", "FAILED")) -> list:
        exp = self.experiment_id(suite, create=False)
        if exp is None:
            return []
        runs = self.client.search_runs([exp], filter_string="tags.kind = 'cell'",
                                       order_by=["attributes.start_time DESC"], max_results=50000)
        return [r for r in runs if r.info.status in statuses]

    def copy_cell(self, run, suite: str, parent_id: str, tag_overrides: dict[str, str]) -> str:
        """Record a finished cell of another suite in ``suite`` (same results, tag ``reused_from``)."""
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
        tags.update(tag_overrides)
        tags["reused_from"] = run.info.run_id
        new_id = self.start_cell(suite, parent_id, run.info.run_name or "reused cell", tags)
        self.log_params(new_id, dict(run.data.params))
        self.log_metrics(new_id, dict(run.data.metrics))
        source = self.artifact_path(run)
        if source.is_dir():
            for path in sorted(source.iterdir()):
                if path.is_file():
                    self.log_artifact(new_id, path)
        self.end(new_id, "FINISHED")
        return new_id

    # logging -----------------------------------------------------------------------------------
    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param
        items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()
                 if v is not None and np.isfinite(float(v))]
        for i in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[i:i + 500])

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag
        items = [RunTag(k, str(v)[:5000]) for k, v in tags.items()]
        if items:
            self.client.log_batch(run_id, tags=items)

    def log_files(self, run_id: str, files: dict[str, Any]) -> None:
        """Write named artifacts (DataFrame -> CSV, dict -> JSON, ndarray -> NPY, Path -> copy)."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, obj in files.items():
                path = Path(tmp) / name
                if isinstance(obj, pd.DataFrame):
                    obj.to_csv(path, index=False)
                elif isinstance(obj, dict):
                    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
                elif isinstance(obj, np.ndarray):
                    np.save(path, obj)
                elif isinstance(obj, Path):
                    path = obj
                else:
                    path.write_text(str(obj))
                self.log_artifact(run_id, path)

    def log_artifact(self, run_id: str, path: Path | str) -> None:
        """Copy one file into the run's artifacts: atomically (temporary name, then rename) into the
        folder under the current work directory; through MLflow for a remote artifact store."""
        run = self.client.get_run(run_id)
        folder = self.artifact_path(run)
        if not _is_local(run.info.artifact_uri):
            self.client.log_artifact(run_id, str(path))
            return
        folder.mkdir(parents=True, exist_ok=True)
        source = Path(path)
        tmp = folder / f".{source.name}.{uuid.uuid4().hex}.tmp"
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, folder / source.name)
        finally:
            tmp.unlink(missing_ok=True)

    def artifact_path(self, run) -> Path:
        """Local folder of a run's artifacts, re-anchored on the current work directory: MLflow stores
        the absolute path it was created under, which is stale after the work directory moved."""
        from urllib.parse import unquote, urlparse
        uri = run.info.artifact_uri
        if not _is_local(uri):
            return Path(uri)
        stored = Path(unquote(urlparse(uri).path))
        if self.tracking_uri:  # a server's artifact root on shared storage: the stored path is the path
            return stored
        parts = stored.parts
        if ARTIFACT_DIR in parts:
            tail = parts[len(parts) - 1 - parts[::-1].index(ARTIFACT_DIR):]
            return self.workdir.resolve().joinpath(*tail)
        return stored


def _is_local(uri: str) -> bool:
    from urllib.parse import urlparse
    return urlparse(uri).scheme in ("file", "")


def run_owner_gone(run_id: str, host: str | None, pid: str | None) -> bool:
    """Whether the process that left run ``run_id`` RUNNING is gone: same host and either its pid is
    dead, or the pid is *ours* but this process never started the run (containers re-use pids, pid 1
    above all, so "alive" alone would keep a dead container's run RUNNING forever)."""
    if host != socket.gethostname() or not pid or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return run_id not in _STARTED_HERE
    return not pid_alive(int(pid))


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (signal 0 probes without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
