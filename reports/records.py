"""CellRecord: one stored cell (one MLflow child run) as the report builders see it.

Reports are built only from these records, which ``reports.store`` reads back from the MLflow store,
so any table can be rebuilt, re-scored or tested for significance without retraining.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class CellRecord:
    suite: str
    model: str
    variant: str
    row: str  # the suite row label, e.g. "w/o ITM" or "BERT+ResNet (WBG)"
    dataset: str  # the suite's dataset slot, e.g. "twitter"
    dataset_name: str  # the registered dataset actually used, e.g. "mediaeval2016" or "synthetic-demo"
    data_source: str  # "real" | "synthetic"
    seed: int
    protocol: str  # "clean" | "as-released"
    metrics: dict[str, float]  # final test metrics (see benchmark.metrics.classification_metrics)
    predictions: pd.DataFrame  # columns item_id, y_true, y_pred, p_fake (test split, one row per item)
    history: pd.DataFrame | None = None  # one row per epoch: epoch, loss terms, val_* (and test_* if as-released)
    representation: np.ndarray | None = None  # (n_test, D) features before the classifier
    params: dict[str, Any] = field(default_factory=dict)  # resolved config
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    status: str = "FINISHED"  # or "FAILED" (a failed cell is an error row, not a lost table)
    error: str = ""
    selected_epoch: int | None = None  # the epoch whose weights were tested (best on validation)
    # measurements of pre-trained modules logged by the model's prepare (e.g. emotion_val_accuracy)
    prepare_metrics: dict[str, float] = field(default_factory=dict)
