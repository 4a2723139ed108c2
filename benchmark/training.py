"""Training one cell: ``train_cell(spec) -> CellOutcome``, the only function that trains a configuration.

Every executor (inline, local worker processes, Slurm jobs) and every Optuna trial calls it, so a
trial and a suite cell with the same ``CellSpec`` train the same model on the same data at the same
precision. It never touches the MLflow store: callbacks log live (inline), otherwise everything is
collected in the outcome and the submitting process records it (``benchmark.recording``).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchmark.cells import CellSpec

__all__ = ["CellOutcome", "train_cell", "cell_features"]


@dataclass
class CellOutcome:
    """What training one cell produced, or why it failed; recorded by the submitting process."""

    ok: bool
    seconds: float = 0.0
    n_params: int = 0
    epochs: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # replayed when not live
    extra_metrics: list[tuple[dict[str, float], int]] = field(default_factory=list)  # from prepare()
    artifacts: list[str] = field(default_factory=list)  # files written by prepare() to attach
    result: Any = None  # benchmark.engine.TrainResult
    error: str = ""
    traceback: str = ""
    live: bool = False  # epoch metrics and artifacts were already logged by the callbacks
    unavailable: str = ""  # the cell cannot run on this data (e.g. no emotion image set): why
    logs: list[str] = field(default_factory=list)  # log files of the job that ran the cell (cluster executors)
    job_id: str = ""  # the scheduler's job id (cluster executors)
    retried: list[str] = field(default_factory=list)  # why earlier attempts ended (a worker died), oldest first


_FEATURES: dict[tuple, tuple[Any, Any]] = {}
_LOADED: dict[tuple, Any] = {}  # a worker's datasets as read, shared by the folds it trains (one run per worker)


def cell_features(spec: CellSpec):
    """(splits, features) of the cell's dataset with its data parameters applied, loaded once per
    process from the feature cache (the submitting process featurised it)."""
    from benchmark.loading import load_features
    fold = spec.fold
    key = (spec.dataset, spec.limit, repr(spec.options), fold)
    if key not in _FEATURES:
        _FEATURES[key] = load_features(spec.dataset, spec.options, spec.limit, say=lambda message: None, fold=fold,
                                       cache=_LOADED)
    splits, features = _FEATURES[key]
    if spec.data_params:
        from benchmark.data_params import apply_data_params
        features = apply_data_params(splits, features, dict(spec.data_params), seed=spec.seed)
    return splits, features


def train_cell(spec: CellSpec, features: tuple[Any, Any] | None = None, *, on_epoch: Callable | None = None,
               log_artifact: Callable | None = None, log_metrics: Callable | None = None,
               evaluate_test: bool = True) -> CellOutcome:
    """Train one cell. ``features``: (splits, features) already in memory, else loaded (``cell_features``).

    ``on_epoch(epoch, record)`` logs live and may stop the cell by raising (an Optuna trial's pruning):
    an exception raised by the caller's own callback propagates unchanged; exceptions of the model or
    the data become a failed outcome with the traceback; Ctrl-C and SIGTERM (KeyboardInterrupt)
    propagate. ``evaluate_test=False`` (sweep trials) never touches the test split.
    """
    import torch

    from benchmark.emotion_set import EmotionSetProvider, EmotionSetUnavailable
    from benchmark.engine import resolve_device, train_model
    from benchmark.models.base import PrepareContext
    from benchmark.variants import build_model

    outcome = CellOutcome(ok=False, live=on_epoch is not None)
    raised_by_caller: list[BaseException] = []

    def epoch_callback(epoch: int, record: dict[str, float]) -> None:
        if on_epoch is None:
            outcome.epochs.append((epoch, dict(record)))
            return
        try:
            on_epoch(epoch, record)
        except BaseException as exc:
            raised_by_caller.append(exc)
            raise

    started = time.time()
    try:
        if features is None:
            features = cell_features(spec)
        _, feature_splits = features
        device = resolve_device(spec.device)
        torch.manual_seed(spec.seed)
        model = build_model(spec.model, spec.config, feature_splits.dims)
        outcome.n_params = sum(p.numel() for p in model.parameters())
        context = PrepareContext(
            device=device, seed=spec.seed, cache_dir=Path(spec.options.workdir) / "pretrained",
            log_artifact=log_artifact or (lambda path: outcome.artifacts.append(str(path))),
            log_metrics=log_metrics or (lambda metrics, step=0: outcome.extra_metrics.append((dict(metrics), step))),
            emotion_set=EmotionSetProvider.for_run(spec.options))
        outcome.result = train_model(
            model, feature_splits, protocol=spec.protocol, seed=spec.seed, device=device,
            precision=spec.precision, prepare_context=context, keep_representation=spec.keep_representation,
            on_epoch=epoch_callback, evaluate_test=evaluate_test)
        outcome.ok = True
    except KeyboardInterrupt:
        raise
    except EmotionSetUnavailable as exc:  # "not available" in the table, not a failure
        outcome.unavailable = str(exc).removeprefix("not available: ")
    except Exception as exc:  # recorded as a FAILED cell by the submitting process
        if raised_by_caller and exc is raised_by_caller[0]:
            raise
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.traceback = traceback.format_exc()
    outcome.seconds = time.time() - started
    return outcome
