"""The SQLite store's health: checked before it is written, backed up before each run, restorable.

Why: a damaged ``mlflow.db`` was written to (a FAILED parent run added to a corrupt file) or called
healthy (``bench doctor`` ran no integrity check), and there was nothing to recover from. So every
writer runs ``PRAGMA quick_check`` first and refuses a damaged file without touching it; each run
that writes first takes an online copy (SQLite's backup API, consistent even while ``bench ui``
reads) into ``<workdir>/backups``, keeping the newest ``KEEP``; ``bench doctor`` runs the full
``integrity_check`` and ``bench doctor --restore`` puts back the newest backup that passes it.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path


BACKUP_DIR = "backups"
KEEP = 3
SIDECARS = ("-journal", "-wal", "-shm")  # SQLite's files next to the database; a hot journal is replayed on open


class StoreError(RuntimeError):
    """The work directory's MLflow store is missing, lost, damaged or not a database."""


def store_file(workdir: Path) -> Path:
    return Path(workdir) / "mlflow.db"


def store_uri(workdir: Path) -> str:
    """The SQLite URI of the work directory's MLflow store (``benchmark.tracking.tracking_uri``)."""
    return f"sqlite:///{(Path(workdir).resolve() / 'mlflow.db').as_posix()}"


def release_store(workdir: Path) -> None:
    """Close this process's cached MLflow connections to the work directory's SQLite file, so that a
    file put in its place (``restore_store``) is opened afresh, not written through a stale handle.
    MLflow caches one engine per URI and one store object per URI."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from mlflow.tracking._tracking_service import utils
    except ImportError:  # pragma: no cover - mlflow is a dependency
        return
    engine = SqlAlchemyStore._engine_map.pop(store_uri(workdir), None)
    if engine is not None:
        engine.dispose()
    utils._tracking_store_registry._get_store_with_resolved_uri.cache_clear()


def backup_dir(workdir: Path) -> Path:
    return Path(workdir) / BACKUP_DIR


def check_database(db: Path, full: bool = False) -> list[str]:
    """Problems SQLite finds in ``db`` (``quick_check``, or ``integrity_check`` when ``full``); [] when
    sound. Opened read-only, so a check never writes the file it checks, except that a hot journal left
    by a killed writer is rolled back first (SQLite's own recovery, which any open would do)."""
    pragma = "integrity_check" if full else "quick_check"
    hot = any(Path(f"{db}{suffix}").is_file() and Path(f"{db}{suffix}").stat().st_size for suffix in SIDECARS[:2])
    try:
        connection = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode={'rw' if hot else 'ro'}", uri=True,
                                     timeout=30)
    except sqlite3.Error as exc:
        return [f"cannot be opened: {exc}"]
    try:
        rows = [row[0] for row in connection.execute(f"PRAGMA {pragma}(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        connection.close()
    if rows == ["ok"]:
        return []
    lines = [line.strip() for row in rows for line in str(row).splitlines()]
    return [line for line in lines if line and not line.startswith("*** in database")]


def backups(workdir: Path) -> list[Path]:
    """Stored backups, newest first (the names sort by time)."""
    folder = backup_dir(workdir)
    return sorted(folder.glob("mlflow-*.db"), reverse=True) if folder.is_dir() else []


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def backup_store(workdir: Path, keep: int = KEEP) -> Path | None:
    """An online copy of the work directory's ``mlflow.db`` into ``<workdir>/backups`` (None when there
    is no store yet, or when the copy fails ``quick_check``: a damaged store never pushes a sound backup
    out). Older copies beyond the newest ``keep`` are removed. Written under a temporary name and
    renamed, so a backup that exists is complete."""
    db = store_file(workdir)
    if not db.is_file():
        return None
    folder = backup_dir(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"mlflow-{_stamp()}.db"
    partial = target.with_name(f".{target.name}.partial")
    source = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
        if check_database(partial):
            return None
        os.replace(partial, target)
    finally:
        source.close()
        partial.unlink(missing_ok=True)
    for old in backups(workdir)[keep:]:
        old.unlink(missing_ok=True)
    return target


class NoSoundBackup(StoreError):
    """``bench doctor --restore`` found no backup that passes the integrity check."""


def restore_store(workdir: Path) -> tuple[Path, Path | None]:
    """Put the newest sound backup in place of ``mlflow.db``; the current file (and its journal) is
    moved aside, never deleted. Returns (the backup used, where the old file went or None)."""
    db = store_file(workdir)
    damaged = []
    for candidate in backups(workdir):
        problems = check_database(candidate, full=True)
        if not problems:
            break
        damaged.append(f"{candidate.name} ({problems[0]})")
    else:
        found = f"; damaged: {', '.join(damaged)}" if damaged else ""
        raise NoSoundBackup(f"no sound backup of {db} in {backup_dir(workdir)}{found}. Move {db} aside to start "
                            "a new store (the cells are then trained again)")
    release_store(workdir)  # this process's open connections must not write the file put in its place
    stamp = _stamp()
    aside = None
    if db.exists():
        aside = db.with_name(f"mlflow.db.damaged-{stamp}")
        os.replace(db, aside)
    for suffix in SIDECARS:  # a journal of the damaged file must not be replayed into the restored one
        sidecar = db.with_name(db.name + suffix)
        if sidecar.exists():
            os.replace(sidecar, db.with_name(f"mlflow.db{suffix}.damaged-{stamp}"))
    partial = db.with_name(f".mlflow.db.{stamp}.partial")
    source = sqlite3.connect(f"{candidate.resolve().as_uri()}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
        os.replace(partial, db)
    finally:
        source.close()
        partial.unlink(missing_ok=True)
    return candidate, aside
