"""Reading cells back from the MLflow store as CellRecords - the only input report builders get."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.artifacts import CellCheck, check_cell
from benchmark.cells import describe_difference, stored_identity
from benchmark.tracking import Tracker, fingerprint
from reports.records import CellRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeftOut:
    """A stored cell a report did not use: ``kind`` is "setting" (another setting of its row, a
    deliberate choice) or "damaged" (its artifacts failed verification)."""

    row: str
    dataset: str
    seed: str
    run_id: str
    kind: str
    why: str

    @property
    def cell(self) -> str:
        return f"{self.row} | {self.dataset} | seed {self.seed}"

    def __str__(self) -> str:
        return f"{self.row} on {self.dataset} seed {self.seed} (run {self.run_id[:8]}): {self.why}"


@dataclass
class StoredCells:
    """The cells a report may use, and every stored cell it left out (and why)."""

    records: list[CellRecord]
    left_out: list[LeftOut] = field(default_factory=list)


def _left_out(run, kind: str, why: str) -> LeftOut:
    t = run.data.tags
    return LeftOut(str(t.get("row")), str(t.get("dataset")), str(t.get("seed")), run.info.run_id, kind, why)


PREPARE_METRIC_PREFIXES = ("emotion_val_",)  # logged once by a model's prepare (NovEmoFake's emotion model)


def _test_metrics(run) -> dict[str, float]:
    return {k[len("test_"):]: v for k, v in run.data.metrics.items() if k.startswith("test_")}


def _choose(runs: list) -> tuple[list, list[tuple[object, str]]]:
    """Within one (row, dataset slot, protocol) group (newest first): keep the cells of ONE setting,
    that of the newest finished cell, one run per seed (FINISHED beats FAILED); name the others."""
    finished = [r for r in runs if r.info.status == "FINISHED"]
    reference = finished[0] if finished else runs[0]
    setting = reference.data.tags.get("setting_key")
    chosen: dict[str, object] = {}
    other: list[tuple[object, str]] = []
    for run in runs:
        t = run.data.tags
        # a setup failure has no identity: it belongs to whichever setting the table shows
        key = t.get("setting_key") if run.info.status == "FINISHED" or "setting_key" in t else setting
        if key != setting:
            if run.info.status == "FINISHED":
                other.append((run, describe_difference(stored_identity(reference.data.tags), stored_identity(t),
                                                       dict(reference.data.params), dict(run.data.params))))
            continue
        slot = (t.get("seed"), t.get("design.fold"))  # one run per seed (and cross-validation fold)
        prev = chosen.get(slot)
        if prev is None or (prev.info.status != "FINISHED" and run.info.status == "FINISHED"):
            chosen[slot] = run
    return list(chosen.values()), other


def load_cells(workdir: Path, suite: str, protocol: str | None = None,
               with_representation: bool = False) -> StoredCells:
    """Verified cells of ``suite`` for reports: per (row, dataset slot, protocol), only cells of one
    setting (``benchmark.cells``: config, data, limit, encoders, precision; the newest finished one
    wins), one per seed; FAILED cells come back as errors. FINISHED cells whose artifacts are missing,
    unreadable or disagree with their logged metrics are left out and named, never shown or crashed on.
    """
    tracker = Tracker(Path(workdir))
    left_out: list[LeftOut] = []
    groups: dict[tuple, list] = {}
    checks = {}
    for run in tracker.cell_runs(suite):  # newest first
        t = run.data.tags
        if protocol is not None and t.get("protocol") != protocol:
            continue
        if run.info.status == "FINISHED":
            check = check_cell(tracker.artifact_path(run), _test_metrics(run))
            if not check.ok:
                left_out.append(_left_out(run, "damaged", f"{'; '.join(check.problems)} (damaged: run `bench "
                                          "doctor --repair` and `bench run` again to retrain it)"))
                continue
            checks[run.info.run_id] = check
        groups.setdefault((t.get("row"), t.get("dataset"), t.get("protocol")), []).append(run)
    records = []
    for runs in groups.values():
        chosen, other = _choose(runs)
        left_out += [_left_out(run, "setting", f"other setting, {why}") for run, why in other]
        for run in chosen:
            record = _record(suite, run, checks.get(run.info.run_id), tracker, with_representation, left_out)
            if record is not None:
                records.append(record)
    records = pool_folds(records, left_out)
    records.sort(key=lambda r: (r.dataset, r.row, r.seed))
    for line in left_out:
        log.info("left out %s", line)
    return StoredCells(records, left_out)


def _record(suite: str, run, check: CellCheck | None, tracker: Tracker, with_representation: bool,
            left_out: list[LeftOut]) -> CellRecord | None:
    t = run.data.tags
    folder = tracker.artifact_path(run)
    config = {}
    if check is not None:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    rep = None
    if with_representation and check is not None and (folder / "representation.npy").is_file():
        try:
            rep = np.load(folder / "representation.npy").astype(np.float32)
        except (ValueError, OSError) as exc:
            left_out.append(_left_out(run, "damaged", f"representation.npy unreadable ({exc}); no t-SNE panel"))
    metrics = _test_metrics(run)
    empty = pd.DataFrame(columns=["item_id", "y_true", "y_pred", "p_fake"])
    return CellRecord(
        suite=suite, model=t.get("model", ""), variant=t.get("variant", ""), row=t.get("row", ""),
        dataset=t.get("dataset", ""), dataset_name=t.get("dataset_name", ""),
        data_source=t.get("data_source", ""), seed=int(t.get("seed", 0)), protocol=t.get("protocol", ""),
        metrics=metrics, predictions=check.predictions if check is not None else empty,
        history=check.history if check is not None else None, representation=rep, params=config, tags=dict(t),
        run_id=run.info.run_id, status=run.info.status, error=t.get("error", ""),
        selected_epoch=int(run.data.metrics["best_epoch"]) if "best_epoch" in run.data.metrics else None,
        prepare_metrics={k: float(v) for k, v in run.data.metrics.items() if k.startswith(PREPARE_METRIC_PREFIXES)})


def pool_folds(records: list[CellRecord], left_out: list[LeftOut]) -> list[CellRecord]:
    """Cross-validation cells (tag ``design.fold``) become one record per (row, slot, protocol, seed):
    the K folds' out-of-fold predictions concatenated (every labelled item once), metrics recomputed on
    them, each fold's accuracy kept in ``tags['fold_accuracy']``. A seed missing a fold, or with a
    failed fold, is not pooled: it is named (left out) or shown as the failed cell."""
    from benchmark.metrics import classification_metrics
    plain = [r for r in records if "design.fold" not in r.tags]
    seeds: dict[tuple, list[CellRecord]] = {}
    for r in records:
        if "design.fold" in r.tags:
            seeds.setdefault((r.row, r.dataset, r.protocol, r.seed), []).append(r)
    for (row, slot, _, seed), folds in seeds.items():
        folds.sort(key=lambda r: int(r.tags["design.fold"]))
        k = int(str(folds[0].tags.get("split", "0-fold")).split("-fold", 1)[0] or 0)
        failed = [r for r in folds if r.status != "FINISHED"]
        if failed:
            plain.append(failed[0])
            continue
        have = sorted(int(r.tags["design.fold"]) for r in folds)
        if have != list(range(k)):
            left_out.append(LeftOut(row, slot, str(seed), folds[0].run_id, "setting",
                                    f"cross-validation seed incomplete: folds {have} of {k} finished; run the same "
                                    "`bench run` again to train the rest"))
            continue
        predictions = pd.concat([r.predictions for r in folds], ignore_index=True)
        if predictions["item_id"].duplicated().any():
            raise ValueError(f"{row} on {slot} seed {seed}: an item is predicted by two folds; the fold "
                             "assignment changed between its cells (re-run with a fresh work directory)")
        p_fake = predictions["p_fake"].to_numpy() if "p_fake" in predictions else None
        metrics = classification_metrics(predictions["y_true"].to_numpy(), predictions["y_pred"].to_numpy(), p_fake)
        activity, fold_activity = _pooled_activity(folds)
        metrics.update(activity)
        first = folds[0]
        reps = [r.representation for r in folds]
        tags = {**first.tags, "fold_accuracy": json.dumps([round(r.metrics.get("accuracy", float("nan")), 4)
                                                          for r in folds]),
                "fold_runs": " ".join(r.run_id for r in folds)}
        if activity:
            tags["fold_activity"] = json.dumps(fold_activity)
        prints = [r.tags.get("features_fingerprint") for r in folds]  # each fold trains on its own features:
        tags.pop("features_fingerprint", None)  # the pooled seed names all K of them, never fold 0's alone
        if all(prints):
            tags["features_fingerprint"] = fingerprint(prints)
        plain.append(CellRecord(
            suite=first.suite, model=first.model, variant=first.variant, row=row, dataset=slot,
            dataset_name=first.dataset_name, data_source=first.data_source, seed=seed, protocol=first.protocol,
            metrics=metrics, predictions=predictions, history=first.history,
            representation=np.concatenate(reps) if all(x is not None for x in reps) else None,
            params=first.params, tags=tags, run_id=first.run_id, status="FINISHED",
            selected_epoch=first.selected_epoch))
    return plain


def _pooled_activity(folds: list[CellRecord]) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Module activity (``activity_<name>_mean/_std``) of a cross-validated seed: pooled over its fold
    models (``benchmark.activity.within_model_moments``), and each fold's own values, so a report can
    name a fold model whose module collapsed. A weight some fold did not log is left out."""
    from benchmark.activity import PREFIX, activity_names, within_model_moments
    pooled: dict[str, float] = {}
    for name in activity_names(folds[0].metrics):
        keys = (f"{PREFIX}{name}_mean", f"{PREFIX}{name}_std")
        if not all(k in r.metrics for r in folds for k in keys):
            continue
        pooled[keys[0]], pooled[keys[1]] = within_model_moments(
            [(len(r.predictions), r.metrics[keys[0]], r.metrics[keys[1]]) for r in folds])
    per_fold = [{k: float(r.metrics[k]) for k in pooled} for r in folds]
    return pooled, per_fold


def load_records(workdir: Path, suite: str, protocol: str | None = None,
                 with_representation: bool = False) -> list[CellRecord]:
    """The records of ``load_cells`` (cells left out are logged)."""
    return load_cells(workdir, suite, protocol, with_representation).records


def suite_invocation_tags(workdir: Path, suite: str) -> list[dict[str, str]]:
    """Tags of every invocation (parent run) of ``suite``, newest first: slot availability, data source, commit."""
    tracker = Tracker(Path(workdir))
    exp = tracker.experiment_id(suite, create=False)
    if exp is None:
        return []
    runs = tracker.client.search_runs([exp], filter_string="tags.kind = 'suite'",
                                      order_by=["attributes.start_time DESC"], max_results=1000)
    return [dict(run.data.tags) for run in runs]
