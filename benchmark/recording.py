"""Recording cells in the MLflow store: provenance tags built once, a cell's outcome written once.

Why apart from ``benchmark.tracking``: tracking is the store client (runs, tags, files, integrity);
this module decides *what* a cell or a trial writes, from its ``CellSpec`` and ``CellOutcome``, so the
suite runner and the sweep write the same tags, params, metrics and files (they had drifted apart).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable

from benchmark.cells import CellSpec, identity_tags
from benchmark.training import CellOutcome
from benchmark.tracking import Tracker, fingerprint, git_commit, host_description, package_versions


def provenance_tags(**extra: Any) -> dict[str, str]:
    """Tags every run carries (suite invocation, cell, study, trial): git commit, package versions and
    the machine (``machine.cpu``, ``machine.cpu_isa``, ``machine.torch_threads``), plus ``extra``;
    values as strings, ``None`` left out."""
    tags = {"git_commit": git_commit(), **{f"version.{k}": v for k, v in package_versions().items()},
            **{f"machine.{k}": v for k, v in host_description().items()}, **extra}
    return {k: str(v) for k, v in tags.items() if v is not None}


def device_name(device: str) -> str:
    """The device a setting resolves to on this host ("auto" -> "cpu" or "cuda:0"), for tags."""
    from benchmark.engine import resolve_device
    return str(resolve_device(device))


def cell_tags(spec: CellSpec, *, suite_config_fingerprint: str | None = None, variant_label: str | None = None,
              **extra: Any) -> dict[str, str]:
    """The tags of a cell's run: what it is (suite, row, dataset, seed), its identity and provenance."""
    from benchmark.loading import short_encoder_names
    encoders = spec.encoder_ids
    tags = provenance_tags(
        suite=spec.suite, model=spec.model, variant=spec.variant, row=spec.row, dataset=spec.slot,
        dataset_label=spec.slot_label, dataset_name=spec.dataset, data_source=spec.data_source, seed=spec.seed,
        protocol=spec.protocol, **identity_tags(spec.identity()),
        config_fingerprint=fingerprint(dataclasses.asdict(spec.config)),
        suite_config_fingerprint=suite_config_fingerprint, data_fingerprint=spec.data_fingerprint,
        **{"encoder.text": encoders.get("text", ""), "encoder.image": encoders.get("image", "")},
        encoders=short_encoder_names(encoders), on_missing_image=spec.options.on_missing_image,
        variant_label=variant_label, limit=spec.limit, device=device_name(spec.device), precision=spec.precision,
        split=spec.split, cluster_unit=spec.cluster_unit,
        **{f"design.{k}": v for k, v in spec.design}, **{f"data.{k}": v for k, v in spec.data_params}, **extra)
    if spec.data_source == "synthetic":
        tags["WARNING"] = "synthetic data"
    return tags


def epoch_metrics(record: dict[str, float]) -> dict[str, float]:
    """An epoch's record as MLflow metrics. Per-epoch test scores (as-released only) are named
    ``epoch_test_*`` so that ``test_*`` always holds the selected epoch's single value."""
    return {("epoch_" + k if k.startswith("test_") else k): v for k, v in record.items() if k != "epoch"}


def live_callbacks(tracker: Tracker, run_id: str) -> dict[str, Callable]:
    """The callbacks ``train_cell`` takes to log a cell's epochs and prepare() files as they happen."""
    return {"on_epoch": lambda epoch, record: tracker.log_metrics(run_id, epoch_metrics(record), step=epoch),
            "log_artifact": lambda path: tracker.log_artifact(run_id, path),
            "log_metrics": lambda metrics, step=0: tracker.log_metrics(run_id, metrics, step)}


def final_metrics(outcome: CellOutcome) -> dict[str, float]:
    """Single values of a finished cell: selected-epoch test (when evaluated) and validation metrics."""
    result = outcome.result
    test = result.test.metrics if result.test is not None else {}
    return {**{f"test_{k}": v for k, v in test.items()},
            **{f"selected_val_{k}": v for k, v in result.validation.metrics.items()},
            "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "train_seconds": outcome.seconds}


def config_record(spec: CellSpec, outcome: CellOutcome, **extra: Any) -> dict[str, Any]:
    """``config.json``: the resolved configuration a cell trained with and where it was selected."""
    return {"model": spec.model, "variant": spec.variant, "row": spec.row, "config": dataclasses.asdict(spec.config),
            "dataset": spec.dataset, "protocol": spec.protocol, "seed": spec.seed,
            "selected_on": outcome.result.selected_on, "encoders": spec.encoder_ids, "limit": spec.limit,
            "precision": spec.precision, **({"design": dict(spec.design)} if spec.design else {}),
            **({"data_params": dict(spec.data_params)} if spec.data_params else {}), **extra}


def record_outcome(tracker: Tracker, run_id: str, spec: CellSpec, outcome: CellOutcome, *,
                   files: Callable[[], dict[str, Any]] | None = None, started: float | None = None) -> str:
    """Write what ``train_cell`` produced into the cell's open run and close it.

    Returns "FINISHED", "FAILED" or "UNAVAILABLE" (the run is deleted: the row reads "not available").
    ``files()`` adds the caller's artifacts of a finished cell (predictions with clusters, dims);
    ``started``: when the cell was submitted (``cell_wall_seconds`` counts queueing and loading)."""
    if not outcome.live:
        for epoch, record in outcome.epochs:
            tracker.log_metrics(run_id, epoch_metrics(record), step=epoch)
        for metrics, step in outcome.extra_metrics:
            tracker.log_metrics(run_id, metrics, step)
        for path in outcome.artifacts:
            tracker.log_artifact(run_id, path)
    if outcome.n_params:
        tracker.log_params(run_id, {"n_params": outcome.n_params})
    if outcome.job_id:  # a cluster job ran the cell: where to look when it misbehaved
        tracker.set_tags(run_id, {"executor.job_id": outcome.job_id, "executor.log": " ".join(outcome.logs)})
    if outcome.retried:  # earlier attempts ended with their worker process: why, for the record
        tracker.set_tags(run_id, {"retries": len(outcome.retried), "retry_reasons": " | ".join(outcome.retried)[:4000]})
    if outcome.unavailable:
        tracker.client.delete_run(run_id)
        return "UNAVAILABLE"
    if not outcome.ok:
        for log_file in outcome.logs:  # the job's own log, when the shared file system has it
            if os.path.isfile(log_file) and os.access(log_file, os.R_OK):
                tracker.log_artifact(run_id, log_file)
        tracker.set_tags(run_id, {"error": outcome.error[:4000]})
        tracker.log_files(run_id, {"traceback.txt": outcome.traceback})
        tracker.end(run_id, "FAILED")
        return "FAILED"
    metrics = final_metrics(outcome)
    if started is not None:
        metrics["cell_wall_seconds"] = time.time() - started
    tracker.log_metrics(run_id, metrics, step=0)  # single values, not points of the epoch curves
    stored: dict[str, Any] = {"history.csv": outcome.result.history}
    stored.update(files() if files is not None else {"config.json": config_record(spec, outcome)})
    tracker.log_files(run_id, stored)
    tracker.end(run_id, "FINISHED")
    return "FINISHED"
