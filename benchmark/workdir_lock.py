"""Exclusive locks on a work directory, so concurrent ``bench`` processes never duplicate work.

Why: deciding "this cell is not finished yet" and starting to train it are two steps; two runs on one
work directory both saw the cell unfinished and both trained it (and both encoded an empty feature
cache, and both raced MLflow's first-time schema setup). ``bench run`` therefore holds ``W/.lock``
(``fcntl.flock``: released by the kernel when the holder dies, so a killed run never leaves a stale
lock) and a second writer fails at once naming the holder. MLflow's schema setup is serialised with a
short blocking lock on ``W/.mlflow-schema.lock`` (readers such as ``bench report`` take only that one).
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".lock"
SCHEMA_LOCK_NAME = ".mlflow-schema.lock"


class WorkdirBusy(RuntimeError):
    """Another process holds the work directory's writer lock."""


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@contextmanager
def workdir_lock(workdir: Path, command: str | None = None) -> Iterator[Path]:
    """Hold ``workdir/.lock`` exclusively for the block, or raise WorkdirBusy naming the holder."""
    path = Path(workdir) / LOCK_NAME
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise WorkdirBusy(f"work directory {workdir} is in use by {holder}; wait for it to finish, or use "
                              "another --workdir (the lock is released automatically when that process ends)"
                              ) from None
        from benchmark.redaction import mask
        description = mask(command or " ".join(["bench", *sys.argv[1:]]))  # the lock file is readable by others
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} ({description}, since "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def schema_lock(workdir: Path) -> Iterator[None]:
    """Serialise MLflow's first-time SQLite schema setup between processes (blocking, short)."""
    fd = _open(Path(workdir) / SCHEMA_LOCK_NAME)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
