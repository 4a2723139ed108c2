"""The training engine: one function trains any DetectorModel on FeatureSplits under a protocol.

Protocols
  clean (default): early stopping and model selection on the validation split; the test split is
      evaluated exactly once, after training, with the selected weights.
  as-released: what the public COOLANT / CAFE code did - train on the whole training file (our
      validation carve included; validation is then scored for logging only, on items it trained on),
      evaluate on TEST after every epoch and keep the best test epoch. Only for reproducing published
      numbers and measuring how much that inflates them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from benchmark.activity import ActivityAccumulator, item_columns
from benchmark.features import FeatureSplits, FeatureTable
from benchmark.metrics import classification_metrics
from benchmark.models.base import DetectorModel, PrepareContext

log = logging.getLogger(__name__)

PROTOCOLS = ("clean", "as-released")
EpochCallback = Callable[[int, dict[str, float]], None]


def set_seed(seed: int) -> None:
    """Seed every RNG the engine touches, so a CPU run repeats exactly on the same machine from the same
    features (``features_fingerprint``); another CPU type or featurising thread count changes the
    features' last bits and, through training, the per-seed scores (README, Reproducibility)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch sees no CUDA device; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; choose cpu, cuda or auto")
    return torch.device(name)


def default_precision(device: torch.device) -> str:
    """bf16 autocast on CUDA; fp32 on CPU (bf16 on CPU takes the CPU's bf16 kernels: AMX, AVX-512 BF16 or
    emulation, each rounding differently)."""
    return "bf16" if device.type == "cuda" else "fp32"


def _autocast(device: torch.device, precision: str | None = None):
    """bf16 autocast or plain fp32 (``None``: the device's default, see ``default_precision``)."""
    from benchmark.encoders.precision import autocast
    return autocast(device, precision or default_precision(device))


@dataclass
class Evaluation:
    metrics: dict[str, float]
    probabilities: np.ndarray  # p(fake) per item
    predictions: np.ndarray
    labels: np.ndarray
    representation: np.ndarray | None = None

    def frame(self, item_ids: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"item_id": item_ids, "y_true": self.labels.astype(int),
                             "y_pred": self.predictions.astype(int), "p_fake": self.probabilities})


@torch.no_grad()
def evaluate(model: DetectorModel, table: FeatureTable, device: torch.device, batch_size: int = 256,
             keep_representation: bool = False, precision: str | None = None) -> Evaluation:
    """Predict every item of ``table`` in eval mode (the mode is restored afterwards).

    The metrics also hold ``activity_<name>_mean`` / ``_std`` over the items for every per-item weight
    the model reports (``DetectorModel.activity_channels``; see ``benchmark.activity``).
    """
    was_training = model.training
    model.eval()
    probs, reps = [], []
    activity = ActivityAccumulator()
    keys = set(model.requires)
    for start in range(0, len(table), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(table)))
        batch = table.batch(idx, keys, device)
        batch.pop("label"), batch.pop("event")  # a model must not peek at labels when predicting
        with _autocast(device, precision):
            out = model(batch)
        probs.append(torch.softmax(out.logits.float(), dim=-1)[:, 1].cpu())
        activity.add_columns(item_columns(out.diagnostics, model.activity_channels))
        if keep_representation:
            reps.append(out.representation.float().cpu())
    model.train(was_training)
    p = torch.cat(probs).numpy() if probs else np.zeros(0)
    y = table.labels.numpy()
    pred = (p >= 0.5).astype(int)
    return Evaluation(metrics={**classification_metrics(y, pred, p), **activity.summary()},
                      probabilities=p, predictions=pred, labels=y,
                      representation=torch.cat(reps).numpy() if reps else None)


def _check_finite(model: DetectorModel, out, epoch: int) -> None:
    if not torch.isfinite(out.losses["total"]):
        raise FloatingPointError(
            f"{type(model).__name__}: non-finite loss at epoch {epoch} "
            f"({ {k: float(v) for k, v in out.losses.items()} }); lower the learning rate")


@dataclass
class TrainResult:
    history: pd.DataFrame  # one row per epoch
    best_epoch: int
    selected_on: str  # "validation" or "test"
    validation: Evaluation
    test: Evaluation | None  # None when the caller asked not to evaluate test (sweep trials)
    stopped_early: bool
    epochs_run: int
    notes: list[str] = field(default_factory=list)


def train_model(model: DetectorModel, features: FeatureSplits, *, protocol: str = "clean", seed: int = 0,
                device: torch.device | str = "cpu", selection_metric: str = "accuracy",
                on_epoch: EpochCallback | None = None, prepare_context: PrepareContext | None = None,
                keep_representation: bool = False, precision: str | None = None,
                evaluate_test: bool = True) -> TrainResult:
    """Train ``model`` with its config's batch size / epochs / patience and return the selected result.

    ``precision``: "fp32" or "bf16" (autocast); ``None`` = the device's default (bf16 on CUDA only).

    ``on_epoch(epoch, record)`` receives the epoch's mean loss terms and validation metrics (and test
    metrics under as-released); it may raise (e.g. optuna.TrialPruned) to stop the run.

    ``evaluate_test=False`` (an Optuna trial, clean protocol only): the test split is never evaluated
    and ``TrainResult.test`` is None; a study touches it once, for its selected configuration.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    if not evaluate_test and protocol != "clean":
        raise ValueError("evaluate_test=False needs the clean protocol (as-released selects on test)")
    device = torch.device(device)
    cfg = model.config
    if len(features.train) < 2 or len(features.validation) == 0 or len(features.test) == 0:
        raise ValueError(
            f"splits too small to train (train={len(features.train)}, validation={len(features.validation)}, "
            f"test={len(features.test)}); raise --limit or check the dataset with `bench data check`")
    if protocol == "as-released":  # the released scripts train on the whole training file
        features = dataclasses.replace(features, train=features.train.concat(features.validation))
    set_seed(seed)
    model.to(device)
    if prepare_context is not None:
        model.prepare(features, prepare_context)
        model.to(device)
    optimizers = model.configure_optimizers()
    keys = set(model.requires)
    generator = torch.Generator().manual_seed(seed)
    n_train = len(features.train)
    batch_size = max(2, int(cfg.batch_size))

    history: list[dict[str, float]] = []
    best_score, best_epoch, best_state = -float("inf"), -1, None
    best_test: Evaluation | None = None
    best_validation: Evaluation | None = None
    epochs_without_gain, stopped_early = 0, False
    select_split = "test" if protocol == "as-released" else "validation"
    model.epoch_diagnostics()  # drop anything gathered before training (e.g. forward passes in prepare)
    bar = tqdm(range(1, int(cfg.max_epochs) + 1), desc=f"train {type(model).__name__}", leave=False,
               disable=os.environ.get("TQDM_DISABLE") == "1")
    for epoch in bar:
        model.train()
        perm = torch.randperm(n_train, generator=generator)
        sums: dict[str, float] = {}
        batches = 0
        for start in range(0, n_train, batch_size):
            idx = perm[start:start + batch_size]
            if len(idx) < 2:  # contrastive terms and batch norm need at least two items
                continue
            batch = features.train.batch(idx, keys, device)
            if model.steps_itself:  # e.g. COOLANT as released: one optimiser after the other, recomputing
                out = model.training_step(batch, optimizers, lambda: _autocast(device, precision))
                _check_finite(model, out, epoch)
            else:
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                with _autocast(device, precision):
                    out = model(batch)
                _check_finite(model, out, epoch)
                out.losses["total"].backward()
                for opt in optimizers:
                    opt.step()
            for name, value in out.losses.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            batches += 1
        record: dict[str, float] = {"epoch": epoch}
        record.update({f"train_loss_{k}": v / max(batches, 1) for k, v in sums.items()})
        record.update(model.epoch_diagnostics())
        val = evaluate(model, features.validation, device, precision=precision)
        record.update({f"val_{k}": v for k, v in val.metrics.items()})
        test_eval = None
        if protocol == "as-released":
            test_eval = evaluate(model, features.test, device, keep_representation=keep_representation,
                                 precision=precision)
            record.update({f"test_{k}": v for k, v in test_eval.metrics.items()})
        history.append(record)
        score = record[f"{'test' if protocol == 'as-released' else 'val'}_{selection_metric}"]
        if score > best_score:
            best_score, best_epoch, epochs_without_gain = score, epoch, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            best_test, best_validation = test_eval, val
        else:
            epochs_without_gain += 1
        bar.set_postfix(loss=f"{record.get('train_loss_total', float('nan')):.3f}", score=f"{score:.3f}")
        if on_epoch is not None:
            on_epoch(epoch, record)
        if protocol == "clean" and epochs_without_gain >= int(cfg.patience):
            stopped_early = True
            bar.total = epoch  # the bar ends here, not at max_epochs (its ETA was for max_epochs)
            bar.refresh()
            break
    bar.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    # the restored weights were scored on validation at their epoch already (eval mode is deterministic)
    validation = (best_validation if best_validation is not None
                  else evaluate(model, features.validation, device, precision=precision))
    if protocol == "as-released":
        assert best_test is not None
        test = best_test
        if keep_representation and test.representation is None:
            test = evaluate(model, features.test, device, keep_representation=True, precision=precision)
    elif evaluate_test:
        test = evaluate(model, features.test, device, keep_representation=keep_representation,
                        precision=precision)
    else:
        test = None
    return TrainResult(history=pd.DataFrame(history), best_epoch=best_epoch, selected_on=select_split,
                       validation=validation, test=test, stopped_early=stopped_early, epochs_run=len(history))
