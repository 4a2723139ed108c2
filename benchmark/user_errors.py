"""One vocabulary for what goes wrong around a run (not in it): full disks, permissions, unreachable
servers, missing database drivers, files where folders belong, damaged stores.

Why: these reached users as 40-line tracebacks, or as a wrong diagnosis ("restore mlflow.db" for a
refused PostgreSQL connection, which has no mlflow.db). :func:`explain` turns such an exception,
wherever it sits in the cause chain, into one line naming the path or URI (credentials masked) and
the fix; ``bench`` prints it and exits 2 (the traceback only with ``--debug``).
"""

from __future__ import annotations

import errno
import re
import sqlite3
from pathlib import Path

from benchmark.redaction import mask

DRIVERS = {"psycopg2": "psycopg2-binary", "psycopg": "psycopg[binary]", "pymysql": "pymysql",
           "MySQLdb": "mysqlclient"}
_UNREACHABLE = ("connection refused", "max retries exceeded", "failed to establish a new connection",
                "could not connect to server", "could not translate host name", "name or service not known",
                "timeout expired", "connection timed out", "no route to host", "network is unreachable",
                "temporary failure in name resolution", "server closed the connection unexpectedly")
_AUTH = ("password authentication failed", "authentication failed", "401", "403 client error", "unauthorized")


def chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and its causes/contexts, outermost first (bounded: chains can loop)."""
    out: list[BaseException] = []
    while exc is not None and len(out) < 20 and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _reason(text: str) -> str:
    """The useful part of a long network error: ``[Errno 111] Connection refused`` and the like."""
    found = re.search(r"\[Errno -?\d+\] [^'\")\]\n]+", text)
    if found:
        return found.group(0).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return re.sub(r"^\([\w.]+\) ", "", lines[0] if lines else text)[:200]


def blocking_file(path: str | Path) -> Path | None:
    """The first component of ``path`` that exists and is not a folder (why a mkdir under it fails)."""
    current = Path(path)
    parts = [current, *current.parents]
    for candidate in reversed(parts):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


def _uri_for(kind: str, uris: list[str]) -> str:
    """The given URI that this kind of failure concerns: http(s) for MLflow REST, a database otherwise."""
    uris = [u for u in uris if u]
    for uri in uris:
        if (kind == "http") == uri.startswith(("http://", "https://")):
            return uri
    return uris[0] if uris else ""


def explain(exc: BaseException, uris: list[str] | None = None, workdir: Path | None = None) -> str | None:
    """One line for an environment failure (masked), or None when ``exc`` is not one (a bug: traceback)."""
    uris = list(uris or [])
    links = chain(exc)
    where = f" (work directory {workdir})" if workdir else ""
    for link in links:  # most specific first: a driver, a full disk, a permission, a file in the way
        if isinstance(link, ModuleNotFoundError) and (link.name or "").split(".")[0] in DRIVERS:
            name = link.name.split(".")[0]
            uri = _uri_for("db", uris)
            return (f"{mask(uri) or 'the database URI'} needs the database driver {name}, which is not installed: "
                    f"pip install {DRIVERS[name]} (or use an http:// tracking server, or leave the URI out for "
                    "the work directory's SQLite store)")
        if type(link).__name__ == "NoSuchModuleError":  # sqlalchemy: an unknown dialect or driver
            uri = _uri_for("db", uris)
            return (f"{mask(uri) or 'the database URI'}: {mask(str(link))}; check the URI's scheme "
                    "(postgresql://, postgresql+psycopg2://, sqlite:///)")
        if isinstance(link, OSError) and link.errno in (errno.ENOSPC, errno.EDQUOT):
            path = link.filename or workdir or "the disk"
            return (f"no space left on the device holding {path}: free space there or pass a --workdir on "
                    "another disk; finished cells are kept, run the same command again to resume")
        if isinstance(link, (FileExistsError, NotADirectoryError)) and link.filename:
            blocker = blocking_file(link.filename)
            if blocker is not None:
                return (f"{blocker} is a file, but a folder is needed there (to create {link.filename}); move "
                        "the file aside, or choose another path (--workdir)")
        if isinstance(link, PermissionError) or (isinstance(link, OSError) and link.errno == errno.EROFS):
            path = link.filename or workdir or "a path"
            return (f"permission denied: {path}: check the owner and mode of that path, or use another "
                    "--workdir / --data-root")
    for link in links:  # database and network messages (SQLite, SQLAlchemy, psycopg2, MLflow REST)
        text = _text(link).lower()
        if "database or disk is full" in text:
            return (f"no space left for the store{where} (SQLite: database or disk is full): free space on "
                    "that disk or pass a --workdir on another; the store itself is unharmed")
        if "attempt to write a readonly database" in text or "unable to open database file" in text:
            return (f"the store{where} cannot be written ({_reason(str(link))}): check the owner and mode of "
                    "mlflow.db and its folder, or use another --workdir")
        is_db = isinstance(link, sqlite3.Error) or type(link).__module__.split(".")[0] in ("sqlalchemy", "psycopg2",
                                                                                         "psycopg")
        is_net = type(link).__module__.split(".")[0] in ("requests", "urllib3", "mlflow") or \
            isinstance(link, (ConnectionError, TimeoutError))
        if (is_db or is_net) and any(marker in text for marker in _AUTH) and not isinstance(link, sqlite3.Error):
            uri = _uri_for("db" if is_db else "http", uris)
            return (f"{mask(uri) or 'the server'} refused the credentials ({mask(_reason(str(link)))}); check the "
                    "user and password (pass them through $BENCH_TRACKING_URI / $BENCH_SWEEP_STORAGE, not argv)")
        if (is_db or is_net) and any(marker in text for marker in _UNREACHABLE):
            uri = _uri_for("db" if is_db and not is_net else "http", uris)
            return (f"cannot reach {mask(uri) or 'the server'} ({mask(_reason(str(link)))}): check that the server "
                    "runs and the host, port and URI (--tracking-uri / $BENCH_TRACKING_URI, --storage / "
                    "$BENCH_SWEEP_STORAGE)")
    try:
        from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
    except ImportError:  # pragma: no cover - a dependency
        SQLAlchemyDatabaseError = sqlite3.DatabaseError
    for link in links:
        if isinstance(link, (sqlite3.DatabaseError, SQLAlchemyDatabaseError)):
            return (f"the MLflow store{where} cannot be read ({type(link).__name__}: "
                    f"{mask(str(link)).splitlines()[0][:300]}); `bench doctor --restore` puts back the newest "
                    "sound backup, or move mlflow.db aside")
    return None
