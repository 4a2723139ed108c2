"""The one masking function: passwords out of URIs and out of the text around them."""
import pytest

from benchmark.redaction import has_secret, mask


@pytest.mark.parametrize("uri, masked", [
    ("http://u:SECRETPW@mlflow.example:5000", "http://u:***@mlflow.example:5000"),
    ("https://alice:SECRETPW@mlflow.example/path?x=1", "https://alice:***@mlflow.example/path?x=1"),
    ("postgresql://bench:SECRETPW@db:5432/optuna", "postgresql://bench:***@db:5432/optuna"),
    ("postgresql+psycopg2://bench:SECRETPW@db/optuna", "postgresql+psycopg2://bench:***@db/optuna"),
    # a raw '@' inside the password (a common mistake) is masked with the rest of it
    ("postgresql://bench:SECRET@PW@db/optuna", "postgresql://bench:***@db/optuna"),
    # libpq-style query parameters
    ("postgresql://db/optuna?user=bench&password=SECRETPW&sslmode=require",
     "postgresql://db/optuna?user=bench&password=***&sslmode=require"),
])
def test_mask_uri(uri, masked):
    assert mask(uri) == masked
    assert "SECRETPW" not in mask(uri) and "SECRET" not in mask(uri)
    assert has_secret(uri)


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:5000", "sqlite:////work/runs/mlflow.db", "journal:/tmp/j.log",
    "postgresql://bench@db/optuna", "file:///tmp/mlruns", "", "plain text, no URI",
    "mail me at someone@example.org",
])
def test_no_credentials_unchanged(uri):
    assert mask(uri) == uri
    assert not has_secret(uri)


def test_mask_in_free_text_masks_every_uri():
    line = ("🏃 View run cell at: http://u:SECRETPW@h:5000/#/experiments/1/runs/ab\n"
            "could not connect to 'postgresql+psycopg2://b:SECRETPW@db/o' (also https://x:OTHER@y)")
    out = mask(line)
    assert "SECRETPW" not in out and "OTHER" not in out
    assert out.count("***") == 3
    assert "http://u:***@h:5000/#/experiments/1/runs/ab" in out
    assert "'postgresql+psycopg2://b:***@db/o'" in out


def test_sweep_uses_the_same_function():
    from benchmark import sweep, sweep_cli, sweep_storage
    assert sweep.redact is mask and sweep_storage.redact is mask
    assert sweep_cli.storage_secret("postgresql://b:pw@db/o") and not sweep_cli.storage_secret("sqlite:///x.db")


def test_masked_output_covers_prints_every_logger_and_drops_tracebacks_on_request(capsys, caplog):
    import logging

    from benchmark.redaction import masked_output
    own = logging.getLogger("not.propagating")
    own.propagate = False
    handler = logging.StreamHandler()  # bound to the stderr of now: written through the masked stream below
    own.addHandler(handler)
    try:
        with masked_output(keep_tracebacks=False):
            handler.setStream(__import__("sys").stderr)
            print("tracking at http://u:SECRETPW@h:5000")
            try:
                raise RuntimeError("refused: postgresql://b:SECRETPW@db/o")
            except RuntimeError:
                own.exception("store error for %s", "https://x:SECRETPW@y")
    finally:
        own.removeHandler(handler)
    captured = capsys.readouterr()
    assert "http://u:***@h:5000" in captured.out and "store error for https://x:***@y" in captured.err
    assert "SECRETPW" not in captured.out + captured.err and "Traceback" not in captured.err
    with masked_output(keep_tracebacks=True):
        try:
            raise RuntimeError("refused: postgresql://b:SECRETPW@db/o")
        except RuntimeError:
            logging.getLogger("x").error("failed", exc_info=True)
    logged = caplog.text  # pytest's own handler, made before masked_output: the records come masked
    assert "Traceback" in logged and "postgresql://b:***@db/o" in logged and "SECRETPW" not in logged
