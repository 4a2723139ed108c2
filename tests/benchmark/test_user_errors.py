"""One error vocabulary: each environment failure becomes one line naming the path or URI and the fix."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from benchmark.user_errors import blocking_file, chain, explain

HTTP = "http://u:SECRETPW@mlflow.example:5000"
PG = "postgresql+psycopg2://bench:SECRETPW@db.example/mlflow"


def _raised(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` raised while handling ``inner`` (how MLflow and SQLAlchemy wrap errors)."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer
    except BaseException as exc:
        return exc


def test_full_disk_names_the_path_and_the_fix(tmp_path):
    exc = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "w" / "x.png"))
    assert explain(_raised(RuntimeError("while saving"), exc)) == (
        f"no space left on the device holding {tmp_path / 'w' / 'x.png'}: free space there or pass a --workdir "
        "on another disk; finished cells are kept, run the same command again to resume")
    full = sqlite3.OperationalError("database or disk is full")
    assert explain(full, workdir=tmp_path).startswith(f"no space left for the store (work directory {tmp_path}) "
                                                      "(SQLite: database or disk is full)")


def test_permission_and_read_only_file_system(tmp_path):
    assert explain(PermissionError(13, "Permission denied", "/x/.lock")).startswith(
        "permission denied: /x/.lock: check the owner and mode")
    assert explain(OSError(errno.EROFS, "Read-only file system", "/ro/w")).startswith("permission denied: /ro/w")


def test_a_file_where_a_folder_belongs(tmp_path):
    (tmp_path / "features").write_text("not a folder")
    target = tmp_path / "features" / "abc123"
    with pytest.raises(NotADirectoryError) as raised:
        target.mkdir(parents=True, exist_ok=True)
    assert blocking_file(target) == tmp_path / "features"
    assert explain(raised.value) == (f"{tmp_path / 'features'} is a file, but a folder is needed there (to create "
                                     f"{target}); move the file aside, or choose another path (--workdir)")


def test_missing_driver_names_the_masked_uri_and_the_package():
    exc = ModuleNotFoundError("No module named 'psycopg2'", name="psycopg2")
    message = explain(_raised(RuntimeError("engine"), exc), uris=[PG, ""])
    assert message.startswith("postgresql+psycopg2://bench:***@db.example/mlflow needs the database driver psycopg2")
    assert "pip install psycopg2-binary" in message and "SECRETPW" not in message
    assert explain(ModuleNotFoundError("No module named 'yaml'", name="yaml")) is None  # a real bug


def test_unreachable_servers_are_not_called_damaged_stores():
    from mlflow.exceptions import MlflowException
    rest = MlflowException(f"API request to {HTTP}/api/2.0/mlflow/runs/create failed with exception "
                           "HTTPConnectionPool(host='mlflow.example', port=5000): Max retries exceeded with url: "
                           "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: "
                           "Failed to establish a new connection: [Errno 111] Connection refused'))")
    message = explain(rest, uris=[HTTP, ""])
    assert message.startswith("cannot reach http://u:***@mlflow.example:5000 ([Errno 111] Connection refused): "
                              "check that the server runs") and "SECRETPW" not in message
    import sqlalchemy.exc
    refused = sqlalchemy.exc.OperationalError("connect", {}, Exception(
        'connection to server at "db.example", port 5432 failed: Connection refused'))
    message = explain(refused, uris=["", PG])
    assert message.startswith("cannot reach postgresql+psycopg2://bench:***@db.example/mlflow (connection to server")
    assert "restore" not in message and "mlflow.db" not in message
    denied = sqlalchemy.exc.OperationalError("connect", {}, Exception(
        'FATAL:  password authentication failed for user "bench"'))
    assert explain(denied, uris=["", PG]).startswith("postgresql+psycopg2://bench:***@db.example/mlflow refused the "
                                                     "credentials")


def test_a_damaged_sqlite_store_and_a_bug_are_told_apart(tmp_path):
    assert "`bench doctor --restore` puts back" in explain(sqlite3.DatabaseError("database disk image is malformed"),
                                                           workdir=tmp_path)
    assert explain(ValueError("a bug")) is None
    loop = RuntimeError("a")
    loop.__context__ = RuntimeError("b")
    loop.__context__.__context__ = loop
    assert len(chain(loop)) == 2
