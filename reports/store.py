"""Reading cells back from the MLflow store as CellRecords - the only input report builders get."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.tracking import Tracker
from reports.records import CellRecord

log = logging.getLogger(__name__)


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


def load_records(workdir: Path, suite: str, protocol: str | None = None,
                 with_representation: bool = False) -> list[CellRecord]:
    """Latest run per (row, dataset slot, seed, protocol) of ``suite``; FAILED cells come back as errors.

    A FINISHED cell wins over a later FAILED attempt of the same cell.
    """
    tracker = Tracker(Path(workdir))
    chosen: dict[tuple, object] = {}
    for run in tracker.cell_runs(suite):  # newest first
        t = run.data.tags
        if protocol is not None and t.get("protocol") != protocol:
            continue
        key = (t.get("row"), t.get("dataset"), t.get("seed"), t.get("protocol"))
        prev = chosen.get(key)
        if prev is None or (prev.info.status != "FINISHED" and run.info.status == "FINISHED"):
            chosen[key] = run
    records = []
    for run in chosen.values():
        t = run.data.tags
        folder = tracker.artifact_path(run)
        predictions = _read_csv(folder / "predictions.csv")
        if run.info.status == "FINISHED" and predictions is None:
            log.warning("run %s is FINISHED but has no predictions.csv; skipped", run.info.run_id)
            continue
        config = {}
        if (folder / "config.json").is_file():
            config = json.loads((folder / "config.json").read_text())
        rep = None
        if with_representation and (folder / "representation.npy").is_file():
            rep = np.load(folder / "representation.npy").astype(np.float32)
        metrics = {k[len("test_"):]: v for k, v in run.data.metrics.items() if k.startswith("test_")}
        records.append(CellRecord(
            suite=suite, model=t.get("model", ""), variant=t.get("variant", ""), row=t.get("row", ""),
            dataset=t.get("dataset", ""), dataset_name=t.get("dataset_name", ""),
            data_source=t.get("data_source", ""), seed=int(t.get("seed", 0)), protocol=t.get("protocol", ""),
            metrics=metrics,
            predictions=predictions if predictions is not None else pd.DataFrame(
                columns=["item_id", "y_true", "y_pred", "p_fake"]),
            history=_read_csv(folder / "history.csv"), representation=rep, params=config, tags=dict(t),
            run_id=run.info.run_id, status=run.info.status, error=t.get("error", "")))
    records.sort(key=lambda r: (r.dataset, r.row, r.seed))
    return records


def suite_invocation_tags(workdir: Path, suite: str) -> list[dict[str, str]]:
    """Tags of every invocation (parent run) of ``suite``, newest first: slot availability, data source, commit."""
    tracker = Tracker(Path(workdir))
    exp = tracker.experiment_id(suite, create=False)
    if exp is None:
        return []
    runs = tracker.client.search_runs([exp], filter_string="tags.kind = 'suite'",
                                      order_by=["attributes.start_time DESC"], max_results=1000)
    return [dict(run.data.tags) for run in runs]
