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
    from benchmark import sweep
    assert sweep.redact is mask
    assert sweep.storage_secret("postgresql://b:pw@db/o") and not sweep.storage_secret("sqlite:///x.db")
