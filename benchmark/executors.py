"""Executing cells: ``benchmark.training.train_cell`` run in this process, in worker processes or as Slurm jobs.

Why this shape: a cell is a function of its identity to stored results. ``train_cell`` trains one
cell from a picklable ``CellSpec`` and returns a ``CellOutcome`` (epoch records, final metrics, files,
or the error); it never touches the MLflow store. The submitting process is the store's only writer:
it opens the cell's run, hands the job to an executor, and records the outcome. So ``--jobs N``
never meets "database is locked", and a cluster executor (submitit) can reuse the same function.

Executors:
- ``InlineExecutor``: in this process, epoch metrics logged live (``threads``: torch threads while a
  cell trains; ``None`` keeps the process's setting).
- ``ProcessExecutor``: N spawned worker processes with one torch thread each; each worker loads a
  dataset's features once from the feature cache (the parent featurised it) and keeps them. A worker
  that dies costs only its own cell (retried ``retries`` times, then FAILED naming the signal); workers
  die with the parent (``die_with_parent``).
- ``SlurmExecutor``: one Slurm job per cell (a job array) through submitit; the jobs read features
  from the feature cache on shared storage, results come back as submitit's result files, and a job
  that ends without one (scancel, node failure, out of memory) is a FAILED cell naming its job id and
  log. Re-running the same command re-submits exactly the cells that are not finished.

Results repeat exactly for the same seed, the same features and the same training thread count:
``--jobs 1`` runs inline on one thread, so it gives the same numbers as ``--jobs 2``. The features are
computed once by the submitting process with all its threads, so they (and through them every score)
depend on the CPU type and its thread count; cells carry ``features_fingerprint`` and ``machine.*``.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from multiprocessing.connection import wait as wait_connections
from typing import Any, Callable, Iterable

import torch

from benchmark.cells import CellSpec
from benchmark.training import CellOutcome, train_cell

__all__ = ["InlineExecutor", "ProcessExecutor", "SlurmExecutor", "make_executor", "worker_cell"]


class InlineExecutor:
    """Cells one after another in this process; ``threads`` torch threads while a cell trains."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def describe(self) -> str:
        return "inline" + (f", {self.threads} torch thread(s)" if self.threads else "")

    def run(self, jobs: Iterable[tuple[CellSpec, Any]], start: Callable[[CellSpec], Any],
            finish: Callable[[CellSpec, Any, CellOutcome], None], live: Callable[[Any], dict]) -> None:
        """``jobs``: (job, features). ``start(job)`` opens the cell's run and returns a handle;
        ``live(handle)`` gives the live logging callbacks; ``finish`` records the outcome."""
        previous = torch.get_num_threads()
        for job, features in jobs:
            handle = start(job)
            if self.threads:
                torch.set_num_threads(self.threads)
            try:
                outcome = train_cell(job, features, **live(handle))
            finally:
                torch.set_num_threads(previous)
            finish(job, handle, outcome)


def _worker_init() -> None:
    """One torch thread per worker (N workers on N cores), plugins registered, bars silent."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("TQDM_DISABLE", "1")
    torch.set_num_threads(1)
    from benchmark.registry import load_plugins
    load_plugins()


def worker_cell(job: CellSpec) -> CellOutcome:
    """``train_cell`` in a fresh worker (a Slurm job): one torch thread, plugins registered first."""
    _worker_init()
    return train_cell(job)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int, poll_seconds: float = 1.0, kernel: bool = True) -> str:
    """End this process when ``parent_pid`` dies, however it dies (kill -9 included): a worker must
    not train on for minutes under PID 1, holding its memory. Linux: the kernel's parent-death signal
    (SIGKILL); elsewhere, or if prctl is refused, a watchdog thread polling the parent's pid.
    Returns which mechanism is armed ("prctl" or "watchdog"; ``kernel=False`` forces the watchdog)."""
    if kernel and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
        if armed:
            if os.getppid() != parent_pid:  # the parent died before the signal was armed
                os._exit(1)
            return "prctl"

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
    return "watchdog"


def _worker_main(conn, parent_pid: int, target: Callable[[CellSpec], CellOutcome]) -> None:
    """A local worker: jobs in through ``conn``, outcomes back, until ``None`` or the pipe closes."""
    die_with_parent(parent_pid)
    _worker_init()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if job is None:
            return
        try:
            outcome = target(job)
        except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent closes the cell
            return
        except BaseException as exc:  # noqa: BLE001 - outside the cell's own error handling: still its failure
            outcome = CellOutcome(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        try:
            conn.send(outcome)
        except (EOFError, OSError, KeyboardInterrupt):
            return
        except Exception as exc:  # the outcome does not pickle: the cell fails, the worker goes on
            conn.send(CellOutcome(ok=False, seconds=outcome.seconds,
                                  error=f"the cell's outcome could not be sent back from its worker: "
                                        f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()))


def describe_exit(exitcode: int | None) -> str:
    """A dead worker's exit status in words: the signal by name, or the exit code."""
    if exitcode is None:
        return "ended without an exit status"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = "; out of memory or kill -9?" if -exitcode == signal.SIGKILL else ""
        return f"was killed by {name} (signal {-exitcode}{hint})"
    return f"exited with code {exitcode}"


class _Worker:
    """One spawned worker process, the pipe to it and the cell it trains (job, handle, deaths so far)."""

    def __init__(self, context, target: Callable[[CellSpec], CellOutcome]) -> None:
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child, os.getpid(), target),
                                       name="bench-cell-worker")
        self.process.start()
        child.close()
        self.task: tuple[CellSpec, Any, list[str]] | None = None

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to end, then terminate and kill it if it does not."""
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout if self.task is None else 0)
        for ending in (self.process.terminate, self.process.kill):
            if self.process.exitcode is not None:
                break
            ending()
            self.process.join(timeout)
        self.conn.close()


class ProcessExecutor:
    """Cells in ``jobs`` spawned worker processes, one torch thread each; at most ``jobs`` in flight.

    Each worker has its own pipe, so a worker that dies (kill -9, out of memory) is known by its
    process: only its own cell is affected, the worker is replaced and the other cells go on. That
    cell is trained again up to ``retries`` times, then recorded FAILED with the signal or exit code.
    Workers die with this process (``die_with_parent``).
    """

    def __init__(self, jobs: int, retries: int = 1, target: Callable[[CellSpec], CellOutcome] = train_cell,
                 say: Callable[[str], None] | None = None) -> None:
        if jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {jobs}")
        if retries < 0:
            raise ValueError(f"--retries must be at least 0, got {retries}")
        self.jobs, self.retries, self.target = jobs, retries, target
        self.say = say or (lambda message: print(message, flush=True))

    def describe(self) -> str:
        return f"{self.jobs} worker processes, 1 torch thread each"

    def run(self, jobs: Iterable[tuple[CellSpec, Any]], start: Callable[[CellSpec], Any],
            finish: Callable[[CellSpec, Any, CellOutcome], None], live: Callable[[Any], dict]) -> None:
        pending: deque[tuple[CellSpec, Any, list[str]]] = deque((job, None, []) for job, _ in jobs)
        if not pending:
            return
        context = multiprocessing.get_context("spawn")
        workers: list[_Worker] = []
        try:
            while pending or any(w.task for w in workers):
                for worker in workers:  # idle workers first, then new ones up to --jobs
                    if pending and worker.task is None:
                        self._assign(worker, pending.popleft(), start)
                while pending and len(workers) < self.jobs:
                    workers.append(_Worker(context, self.target))
                    self._assign(workers[-1], pending.popleft(), start)
                ready = set(wait_connections([w.conn for w in workers] + [w.process.sentinel for w in workers]))
                for worker in list(workers):
                    if worker.conn in ready or worker.process.sentinel in ready:
                        self._collect(worker, workers, pending, finish)
        finally:
            for worker in workers:
                worker.stop(timeout=5.0)

    def _assign(self, worker: _Worker, task: tuple[CellSpec, Any, list[str]], start: Callable) -> None:
        job, handle, deaths = task
        if handle is None:
            handle = start(job)
        worker.task = (job, handle, deaths)
        worker.conn.send(job)

    def _collect(self, worker: _Worker, workers: list[_Worker], pending: deque, finish: Callable) -> None:
        """The worker's outcome, or (its process gone) its cell retried or failed and the worker dropped."""
        if worker.task is not None:
            try:
                outcome = worker.conn.recv() if worker.conn.poll() else None
            except (EOFError, OSError):  # the pipe closed: the process is ending, wait for its status
                outcome = None
                worker.process.join(10)
            if outcome is not None:
                job, handle, deaths = worker.task
                worker.task = None
                outcome.retried = list(deaths)
                finish(job, handle, outcome)
                return
        if worker.process.is_alive():
            return
        worker.process.join()
        workers.remove(worker)
        why = f"worker process {worker.process.pid} {describe_exit(worker.process.exitcode)}"
        worker.conn.close()
        if worker.task is None:  # an idle worker: nothing lost, a new one starts when needed
            self.say(f"[worker] {why} while idle; starting another")
            return
        job, handle, deaths = worker.task
        deaths = [*deaths, why]
        if len(deaths) <= self.retries:
            self.say(f"[retry] {job.name}: {why}; training the cell again "
                     f"(attempt {len(deaths) + 1} of {self.retries + 1})")
            pending.appendleft((job, handle, deaths))
            return
        tries = f" (after {len(deaths)} attempts: {'; '.join(deaths[:-1])})" if len(deaths) > 1 else ""
        finish(job, handle, CellOutcome(ok=False, retried=deaths[:-1],
                                        error=f"{why} while training the cell{tries}; run the same command "
                                              "again to train this cell again"))


@dataclass
class SlurmOptions:
    """How cells are submitted to Slurm (``bench run --executor slurm --slurm-...``)."""

    folder: Path = Path("bench-runs/slurm-logs")  # job scripts, pickles and logs; on shared storage
    partition: str | None = None
    time_min: int = 60  # per cell
    gpus_per_cell: int = 0
    cpus_per_cell: int = 1  # one torch thread per cell: the numbers of ``--jobs 1``
    array_parallelism: int = 64  # at most this many cells running at once
    params: dict[str, str] = field(default_factory=dict)  # extra sbatch parameters (--slurm-param key=value)
    poll_seconds: float = 2.0
    result_grace_seconds: float = 10.0  # a job gone from the queue without a result file yet: wait this long


def parse_slurm_params(items: Iterable[str]) -> dict[str, str]:
    """``["mem=4G", "qos=short"]`` to a dict; a malformed item names itself and the expected form."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--slurm-param {item!r}: expected key=value (an sbatch option without the "
                             "leading dashes, e.g. --slurm-param mem=4G --slurm-param qos=short)")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


class SlurmExecutor:
    """One Slurm job per cell through submitit (a job array), polled until every job has ended.

    Job state comes from ``squeue`` (present in the queue = not ended) and the result file submitit
    writes; ``sacct`` is not needed, so clusters without accounting work too.
    """

    def __init__(self, options: SlurmOptions) -> None:
        self.options = options
        self.jobs = options.array_parallelism

    def describe(self) -> str:
        o = self.options
        return (f"slurm ({o.partition or 'default partition'}, {o.time_min} min, {o.gpus_per_cell} GPU(s) and "
                f"{o.cpus_per_cell} CPU(s) per cell, at most {o.array_parallelism} at once)")

    def _executor(self):
        try:
            import submitit
        except ImportError as exc:  # pragma: no cover - submitit is a dependency
            raise RuntimeError("--executor slurm needs submitit (pip install submitit)") from exc
        if shutil.which("sbatch") is None:
            raise RuntimeError("--executor slurm: sbatch is not on PATH; run `bench run` on a Slurm login node "
                               "(or use --executor local)")
        o = self.options
        executor = submitit.SlurmExecutor(folder=str(o.folder), max_num_timeout=0)
        parameters: dict[str, Any] = {
            "time": o.time_min, "cpus_per_task": o.cpus_per_cell, "ntasks_per_node": 1, "nodes": 1,
            "array_parallelism": o.array_parallelism, "job_name": "bench-cell",
            "setup": ["export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TQDM_DISABLE=1"]}
        if o.partition:
            parameters["partition"] = o.partition
        if o.gpus_per_cell:
            parameters["gpus_per_node"] = o.gpus_per_cell
        extra = dict(o.params)
        parameters["additional_parameters"] = {k: v for k, v in extra.items()
                                               if k not in executor._valid_parameters()}
        parameters.update({k: v for k, v in extra.items() if k in executor._valid_parameters()})
        executor.update_parameters(**parameters)
        return executor

    def run(self, jobs: Iterable[tuple[CellSpec, Any]], start: Callable[[CellSpec], Any],
            finish: Callable[[CellSpec, Any, CellOutcome], None], live: Callable[[Any], dict]) -> None:
        cells = [job for job, _ in jobs]
        if not cells:
            return
        Path(self.options.folder).mkdir(parents=True, exist_ok=True)
        executor = self._executor()
        handles = [start(job) for job in cells]  # each cell's run is open before its job exists
        with executor.batch():
            submitted = [executor.submit(worker_cell, job) for job in cells]
        waiting = {str(s.job_id): (s, job, handle) for s, job, handle in zip(submitted, cells, handles)}
        gone_since: dict[str, float] = {}  # left the queue, result file not seen yet
        try:
            while waiting:
                queued, now = _squeue(list(waiting)), time.monotonic()
                for job_id in list(waiting):
                    submitted_job, job, handle = waiting[job_id]
                    if not submitted_job.paths.result_pickle.exists():
                        if job_id in queued:
                            continue
                        if now - gone_since.setdefault(job_id, now) < self.options.result_grace_seconds:
                            continue  # shared file systems show a finished job's result file late
                    del waiting[job_id]
                    finish(job, handle, _slurm_outcome(submitted_job))
                if waiting:
                    time.sleep(self.options.poll_seconds)
        except BaseException:  # Ctrl-C/SIGTERM: the jobs of cells closed as KILLED must not run on
            for submitted_job, _, _ in waiting.values():
                try:
                    submitted_job.cancel(check=False)
                except Exception:  # noqa: BLE001 - best effort while stopping
                    pass
            raise


def _squeue(job_ids: list[str]) -> set[str]:
    """Job ids (array tasks expanded, ``123_4``) that are still in the Slurm queue (pending, running,
    completing); a failing squeue keeps every job waiting rather than declaring it dead."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(job_ids)], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return set(job_ids)
    if out.returncode != 0:
        if "Invalid job id" in out.stderr:  # every listed job has left the controller's memory
            return set()
        return set(job_ids)
    return {line.strip() for line in out.stdout.splitlines() if line.strip()}


def _slurm_outcome(submitted_job) -> CellOutcome:
    """The cell's outcome from the job's result file; a job that ended without one died."""
    paths = submitted_job.paths
    logs = [str(p) for p in (paths.stderr, paths.stdout)]
    if not paths.result_pickle.exists():
        return CellOutcome(ok=False, job_id=str(submitted_job.job_id), logs=logs,
                           error=f"Slurm job {submitted_job.job_id} ended without a result (cancelled, killed, "
                                 f"timed out or its node failed); log {paths.stderr}. Run the same command "
                                 "again to re-submit this cell")
    try:
        outcome = submitted_job.result()
    except Exception as exc:  # the job ran but the function raised outside train_cell (e.g. import error)
        last_line = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:500]
        outcome = CellOutcome(ok=False, error=f"Slurm job {submitted_job.job_id} failed: {last_line}; log "
                                              f"{paths.stderr}", traceback=str(exc))
    outcome.job_id, outcome.logs = str(submitted_job.job_id), logs
    return outcome


def default_jobs() -> int:
    """``$BENCH_JOBS``, else the number of cores this process may use."""
    if os.environ.get("BENCH_JOBS"):
        return int(os.environ["BENCH_JOBS"])
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def make_executor(executor: str | None, jobs: int | None, device: str = "cpu", slurm: Any = None,
                  retries: int = 1):
    """``--executor``/``--jobs`` to an executor. Default: N = cores worker processes on CPU; inline
    (all threads, one cell at a time) on CUDA, where one GPU runs one cell best. ``inline --jobs 1``
    trains on one thread (the numbers of every other executor); ``slurm`` takes ``slurm``
    (``benchmark.slurm.SlurmOptions``); ``retries``: how often a cell whose local worker died is trained
    again (a dead Slurm job is a FAILED cell at once: scancel is deliberate; re-running re-submits it)."""
    if executor == "inline":
        return InlineExecutor(threads=1 if jobs == 1 else None)
    if executor == "slurm":
        return SlurmExecutor(slurm or SlurmOptions())
    if executor not in (None, "local"):
        raise ValueError(f"unknown executor {executor!r}; use inline, local or slurm")
    if jobs is None:
        if executor is None and device == "cuda":
            return InlineExecutor(threads=None)
        jobs = default_jobs()
    if jobs == 1:
        return InlineExecutor(threads=1)  # the same numbers as N one-thread workers
    return ProcessExecutor(jobs, retries=retries)
