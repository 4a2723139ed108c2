"""Verifying a finished cell's stored artifacts before anything trusts them.

Why: reports, resume (``bench run`` skipping a finished cell) and ``bench doctor`` all read the same
files; one truncated or edited predictions.csv must be named and left out, never crash a figure or
skew a table. The per-item predictions are re-scored and compared with the test metrics logged with
the run at training time, so a file that parses but was altered is caught too.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.metrics import classification_metrics

REQUIRED_FILES = ("config.json", "predictions.csv", "history.csv")
PREDICTION_COLUMNS = ["item_id", "y_true", "y_pred", "p_fake"]
OPTIONAL_PREDICTION_COLUMNS = ["cluster"]  # the item's cluster key (runs stored before it lack it)
TOLERANCE = 1e-6


@dataclass
class CellCheck:
    """The outcome of checking one run's artifacts: its predictions (when readable) and problems."""

    folder: Path
    predictions: pd.DataFrame | None = None
    history: pd.DataFrame | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_csv(path: Path, problems: list[str]) -> pd.DataFrame | None:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{path.name} is not UTF-8 text (byte {exc.start}): the file is corrupt")
        return None
    except OSError as exc:
        problems.append(f"{path.name} cannot be read ({exc.strerror or exc})")
        return None
    try:
        return pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        problems.append(f"{path.name} is not a readable CSV ({str(exc).splitlines()[0]})")
        return None


def _check_predictions(frame: pd.DataFrame, metrics: dict[str, float], problems: list[str]) -> bool:
    columns = list(frame.columns)
    if columns[:len(PREDICTION_COLUMNS)] != PREDICTION_COLUMNS or \
            not set(columns[len(PREDICTION_COLUMNS):]) <= set(OPTIONAL_PREDICTION_COLUMNS):
        problems.append(f"predictions.csv has columns {columns}, expected {PREDICTION_COLUMNS} "
                        f"(optionally followed by {OPTIONAL_PREDICTION_COLUMNS})")
        return False
    if "cluster" in frame.columns and frame["cluster"].isna().any():
        bad = int(frame["cluster"].isna().idxmax()) + 2
        problems.append(f"predictions.csv line {bad}: cluster is empty (the file is truncated or edited)")
        return False
    if frame.empty:
        problems.append("predictions.csv has no rows")
        return False
    for column in ("y_true", "y_pred"):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() or not values.isin([0, 1]).all():
            bad = int((values.isna() | ~values.isin([0, 1])).idxmax()) + 2
            problems.append(f"predictions.csv line {bad}: {column} must be 0 or 1 (the file is truncated or edited)")
            return False
    p_fake = pd.to_numeric(frame["p_fake"], errors="coerce")
    if p_fake.isna().any() or not p_fake.between(0, 1).all():
        problems.append("predictions.csv: p_fake outside [0, 1] or missing (the file is truncated or edited)")
        return False
    rescored = classification_metrics(frame["y_true"].astype(int), frame["y_pred"].astype(int),
                                      pd.to_numeric(frame["p_fake"]).to_numpy())
    for name, value in rescored.items():
        logged = metrics.get(name)
        if logged is None or (math.isnan(logged) and math.isnan(value)):
            continue
        if math.isnan(logged) or math.isnan(value) or not math.isclose(logged, value, abs_tol=TOLERANCE):
            problems.append(f"predictions.csv gives test {name} {value:.4f} but the run logged {logged:.4f} "
                            "(the predictions were altered or belong to another run)")
            return False
    return True


def check_cell(folder: Path, test_metrics: dict[str, float]) -> CellCheck:
    """Check a FINISHED cell's artifact ``folder`` against its logged ``test_metrics`` (names without
    the ``test_`` prefix). Problems are sentences naming the file."""
    check = CellCheck(folder=folder)
    if not folder.is_dir():
        check.problems.append(f"artifact folder {folder} is missing")
        return check
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            check.problems.append(f"{name} is missing from {folder}")
    if check.problems:
        return check
    if "accuracy" not in test_metrics:
        check.problems.append("the run has no logged test_accuracy to check its predictions against")
    predictions = _read_csv(folder / "predictions.csv", check.problems)
    if predictions is not None and _check_predictions(predictions, test_metrics, check.problems):
        check.predictions = predictions
    history = _read_csv(folder / "history.csv", check.problems)
    if history is not None:
        if history.empty:
            check.problems.append("history.csv has no epochs (the model was never trained)")
        else:
            check.history = history
    return check
