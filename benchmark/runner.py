"""Running a suite: resolve it into cells, skip the finished ones, train the rest, record every cell.

A cell is one ``CellSpec`` (``benchmark.cells``): row (model + variant), dataset slot, seed, protocol
and every setting that changes its result, resolved once here. Each cell is one MLflow child run; a
failed cell is recorded as a FAILED run with its error and the suite goes on (one broken model must
not lose a whole table). A cell counts as finished only when a FINISHED run of the same identity has
verified artifacts (``benchmark.artifacts``). Training is ``benchmark.training.train_cell`` behind an
executor; what a run records is ``benchmark.recording``'s; this process is the store's only writer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from time import perf_counter
from typing import Any

from tqdm import tqdm

from benchmark.artifacts import check_cell
from benchmark.cells import CellSpec
from benchmark.data.schema import DatasetSplits
from benchmark.data.spec import DEFAULT_SPLIT
from benchmark.executors import InlineExecutor
from benchmark.loading import RunOptions, data_fingerprint, featurise, load_splits, resolve_options
from benchmark.recording import (cell_tags, config_record, device_name, live_callbacks, provenance_tags,
                                 record_outcome)
from benchmark.registry import load_plugins
from benchmark.suites import Suite, SuiteRow
from benchmark.suites.resolve import (SYNTHETIC_BANNER, SlotResolution, resolve_slots, suite_config_fingerprint,
                                      suite_rows, validate_run)
from benchmark.tracking import Tracker
from benchmark.training import CellOutcome

log = logging.getLogger(__name__)
__all__ = ["SuiteRunner", "SYNTHETIC_BANNER", "short_run_name"]


def short_run_name(row: str, slot: str, seed: int) -> str:
    """'COOLANT twitter s0': short enough that the MLflow UI's run column shows the seed."""
    return f"{row} {slot} s{seed}"


class DatasetMemo:
    """Per dataset of one run: validated splits, encoder identities, data fingerprint, features and
    test clusters, each computed once (the fingerprint hashes every item; features load the cache)."""

    def __init__(self, options: RunOptions, limit: int | None, say) -> None:
        self.options, self.limit, self.say = options, limit, say
        self._splits: dict[tuple, tuple[DatasetSplits, dict[str, str], str]] = {}
        self._features: dict[tuple, Any] = {}
        self._clusters: dict[tuple, dict[str, str]] = {}
        self._feature_prints: dict[tuple, str] = {}
        self._loaded: dict[tuple, DatasetSplits] = {}  # the dataset as read, shared by its folds
        self._pooled: dict[str, str] = {}  # dataset -> data key of its folds (the pooled items' fingerprint)

    def splits(self, dataset: str, fold: int | None = None) -> tuple[DatasetSplits, dict[str, str], str]:
        """(splits, encoder identities, data fingerprint) of the dataset or of one of its folds; no
        feature is loaded."""
        key = (dataset, fold)
        if key not in self._splits:
            splits, encoders = load_splits(dataset, self.options, self.limit, say=self.say, fold=fold,
                                           cache=self._loaded)
            if fold is None:
                fingerprint = data_fingerprint(dataset, splits, self.options, self.limit, self._loaded)
            else:  # one hash of the pooled items serves all K folds
                if dataset not in self._pooled:
                    self._pooled[dataset] = data_fingerprint(dataset, splits, self.options, self.limit, self._loaded)
                fingerprint = self._pooled[dataset]
            self._splits[key] = (splits, encoders, fingerprint)
        return self._splits[key]

    def features(self, dataset: str, fold: int | None = None):
        """(splits, features) through the feature cache."""
        key = (dataset, fold)
        if key not in self._features:
            splits = self.splits(dataset, fold)[0]
            self._features[key] = (splits, featurise(dataset, splits, self.options, say=self.say))
        return self._features[key]

    def features_fingerprint(self, dataset: str, fold: int | None = None) -> str:
        """``FeatureSplits.content_fingerprint`` of the features the cells of (dataset, fold) train on
        (before data parameters), hashed once per process."""
        key = (dataset, fold)
        if key not in self._feature_prints:
            self._feature_prints[key] = self.features(dataset, fold)[1].content_fingerprint()
        return self._feature_prints[key]

    def test_clusters(self, dataset: str, fold: int | None = None) -> dict[str, str]:
        """item_id -> cluster key of every test item, under the dataset's cluster unit."""
        key = (dataset, fold)
        if key not in self._clusters:
            from benchmark.data.clusters import cluster_keys
            splits = self.splits(dataset, fold)[0]
            self._clusters[key] = dict(zip((i.item_id for i in splits.test),
                                           cluster_keys(splits.test, splits.cluster_unit)))
        return self._clusters[key]


@dataclass
class RunTally:
    """What one invocation did, for its parent run, its last line and the CLI."""

    trained: int = 0
    skipped: int = 0
    failed_names: list[str] = field(default_factory=list)
    killed_cells: list[str] = field(default_factory=list)  # closed as KILLED when the run stopped
    unavailable: dict[str, dict[str, str]] = field(default_factory=dict)  # slot id -> row -> why

    @property
    def failed(self) -> int:
        return len(self.failed_names)


class SuiteRunner:
    """Runs one suite invocation end to end; ``run()`` returns the number of failed cells.

    Three steps: resolve the suite into ``CellSpec``s and decide which are finished (from the data and
    encoder identities alone, before any feature is loaded), then execute the rest with an executor
    (``benchmark.executors``), recording each outcome as it arrives.
    """

    def __init__(self, suite: Suite, options: RunOptions, out=None, executor=None) -> None:
        load_plugins()
        self.suite = suite
        self.options = resolve_options(options)
        self.out = out
        self.tracker = Tracker(Path(options.workdir))
        self.executor = executor or InlineExecutor()
        self.seeds = list(range(options.seeds if options.seeds is not None else suite.seeds))
        self.max_epochs = options.max_epochs if options.max_epochs is not None else suite.max_epochs
        self.limit = options.limit if options.limit is not None else suite.limit
        if self.options.folds is None and suite.folds:  # the suite's evaluation design, unless --folds
            self.options = dataclasses.replace(self.options, folds=suite.folds,
                                               fold_by=self.options.fold_by or suite.fold_by)
        self.folds: list[int | None] = list(range(self.options.folds)) if self.options.folds else [None]
        self.data = DatasetMemo(self.options, self.limit, self.say)
        self.tally = RunTally()
        self.synthetic = False
        self.parent_id: str | None = None
        self._open: dict[str, str] = {}  # MLflow run id -> cell name, for cells being trained
        self._bar = None  # the suite's cells bar while cells train (``say`` writes above it)

    # what the CLI reads
    trained = property(lambda self: self.tally.trained)
    failed = property(lambda self: self.tally.failed)
    failed_names = property(lambda self: self.tally.failed_names)
    killed_cells = property(lambda self: self.tally.killed_cells)

    def say(self, message: str) -> None:
        bar = self._bar
        if bar is not None and not bar.disable:  # keep the suite bar at the bottom of the terminal
            bar.write(message, file=self.out or sys.stdout)
        else:
            print(message, file=self.out or sys.stdout, flush=True)

    # the run ---------------------------------------------------------------------------------------
    def run(self) -> int:
        opts = self.options
        validate_run(self.suite, opts)
        slots = [slot for slot in self.suite.datasets if not opts.datasets or slot.id in opts.datasets]
        # cross-validation pools a dataset's whole labelled release: the Twitter slot reads MediaEval 2016
        # (devset + testset), not the paper split rebuilt from its devset alone
        resolutions = resolve_slots(slots, opts.data_root,
                                    "published" if opts.folds and opts.split == DEFAULT_SPLIT else opts.split)
        rows = [r for r in suite_rows(self.suite) if not opts.rows or r.label in opts.rows]
        self.synthetic = any(r.source == "synthetic" for r in resolutions)
        if self.synthetic:
            self.say(SYNTHETIC_BANNER + f" (data root searched: {opts.data_root})")
        parent_tags = provenance_tags(
            suite=self.suite.name, protocol=opts.protocol,
            started=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"), data_root=opts.data_root,
            data_source="synthetic" if self.synthetic else "real", device=device_name(opts.device), precision=opts.precision,
            executor=self.executor.describe(), on_missing_image=opts.on_missing_image, split=opts.split,
            **{f"slot.{r.slot.id}": r.status for r in resolutions},
            **({"WARNING": "synthetic data"} if self.synthetic else {}))
        parent = self.tracker.start_parent(self.suite.name, parent_tags, {
            "seeds": len(self.seeds), "max_epochs": self.max_epochs, "limit": self.limit,
            "rows": [r.label for r in rows]})
        self.tally = RunTally()
        self.parent_id = parent
        wall_start = perf_counter()
        status = "FINISHED"
        try:
            planned = self.plan(parent, resolutions, rows)
            if planned:
                self.execute(parent, planned)
        except KeyboardInterrupt as exc:
            status = "KILLED"
            self._close_open(str(exc) or "interrupted (Ctrl-C)")
            self.tracker.set_tags(parent, {"error": str(exc) or "interrupted (Ctrl-C)"})
            raise
        except BaseException:
            status = "FAILED"
            self._close_open("the suite run failed")
            raise
        finally:
            unavailable = self.tally.unavailable
            self.tracker.set_tags(parent, {"failed_cells": self.failed,
                                           **({"rows_not_available": json.dumps(unavailable)} if unavailable else {})})
            self.tracker.log_metrics(parent, {"cells_trained": self.trained, "cells_skipped": self.tally.skipped,
                                              "cells_failed": self.failed,
                                              "wall_seconds": perf_counter() - wall_start}, step=0)
            self.tracker.end(parent, status)
        if status == "FINISHED" and not self.trained and not self.failed and not self.tally.unavailable:
            # nothing ran: the finished cells keep their own invocation; no empty parent per re-run
            self.tracker.client.delete_run(parent)
            self.parent_id = None
        return self.failed

    # planning --------------------------------------------------------------------------------------
    def plan(self, parent: str, resolutions: list[SlotResolution], rows: list[SuiteRow]) -> list[CellSpec]:
        """The cells still to train; finished ones are skipped (or reused from another suite), cells
        that cannot be set up are recorded as FAILED, rows that cannot run on a slot are named."""
        planned: list[CellSpec] = []
        for res in resolutions:
            if res.dataset is None:
                self.say(f"[{res.slot.label}] not available: {res.reason}")
                continue
            for fold in self.folds:  # bad data (e.g. leaking splits) stops the run here, before training
                self.data.splits(res.dataset, fold)
            for row in rows:
                reason = self.row_unavailable(res, row)
                if reason is not None:
                    self.tally.unavailable.setdefault(res.slot.id, {})[row.label] = reason
                    self.say(f"[{row.label} | {res.slot.label}] not available: {reason}")
                    continue
                for seed in self.seeds:
                    for fold in self.folds:
                        try:
                            spec = self.cell_spec(res, row, seed, fold)
                        except KeyboardInterrupt:
                            raise
                        except Exception as exc:  # a cell that cannot even be set up is still recorded
                            self._record_setup_failure(parent, res, row, seed, exc)
                            continue
                        if self.finished(parent, spec):
                            self.tally.skipped += 1
                        else:
                            planned.append(spec)
        return planned

    def cell_spec(self, res: SlotResolution, row: SuiteRow, seed: int, fold: int | None = None) -> CellSpec:
        """The cell of ``row`` on the slot's dataset (or fold) with ``seed``, resolved once from the options."""
        from benchmark.variants import resolve_config
        from benchmark.loading import encoders_read_by
        splits, encoders, data_fingerprint = self.data.splits(str(res.dataset), fold)
        encoders = encoders_read_by(row.model, encoders)
        overrides = {**self.options.params.get(row.model, {}), **row.overrides}
        if self.max_epochs is not None:
            overrides["max_epochs"] = int(self.max_epochs)
        return CellSpec(
            suite=self.suite.name, row=row.label, model=row.model, variant=row.variant,
            config=resolve_config(row.model, row.variant, overrides), slot=res.slot.id, slot_label=res.slot.label,
            dataset=str(res.dataset), data_source=res.source, options=self.options, seed=seed, limit=self.limit,
            data_fingerprint=data_fingerprint, split=splits.split_policy, cluster_unit=splits.cluster_unit,
            encoders=tuple(sorted(encoders.items())), keep_representation=self.suite.store_representation,
            design=(("fold", fold),) if fold is not None else ())

    def row_unavailable(self, res: SlotResolution, row: SuiteRow) -> str | None:
        """Why ``row`` cannot run on this slot's data, or None: a background-knowledge row (WBG) on a
        dataset without sources is 'not available', not a failed cell."""
        from benchmark.variants import resolve_config
        splits = self.data.splits(str(res.dataset), self.folds[0])[0]
        try:
            config = resolve_config(row.model, row.variant, row.overrides)
        except Exception:  # noqa: BLE001 - a row that cannot be configured is recorded by plan()
            return None
        if getattr(config, "use_background", False) and not splits.has_source:
            from benchmark.data.novemofake import GENERIC_NO_SOURCES, NO_SOURCES_NOTE
            for note in splits.notes:
                if note.startswith(NO_SOURCES_NOTE):  # the loader's reason when it knows one, else the file
                    reason = note.split(":", 1)[1].strip() if ":" in note else ""
                    return reason if reason and reason != GENERIC_NO_SOURCES else NO_SOURCES_NOTE
            return "the dataset has no background-knowledge sources"
        return None

    def finished(self, parent: str, spec: CellSpec) -> bool:
        """Whether a verified FINISHED run of this identity exists here or in a suite this one reuses."""
        done = self.verified_finished(self.suite.name, spec.key, spec.name)
        if done is not None:
            self.say(f"[skip] {spec.name}: finished earlier (run {done.info.run_id[:8]})")
            return True
        for other in self.suite.reuses:
            prior = self.verified_finished(other, spec.key, spec.name)
            if prior is not None:
                self.tracker.copy_cell(prior, self.suite.name, parent, {"suite": self.suite.name, "row": spec.row})
                self.say(f"[reuse] {spec.name}: finished in suite {other} (run {prior.info.run_id[:8]})")
                return True
        return False

    def verified_finished(self, suite: str, cell_key: str, name: str):
        """The newest FINISHED run of this identity whose artifacts check out; damaged ones are named."""
        for run in self.tracker.finished_cells(suite, cell_key):
            metrics = {k[len("test_"):]: v for k, v in run.data.metrics.items() if k.startswith("test_")}
            check = check_cell(self.tracker.artifact_path(run), metrics)
            if check.ok:
                return run
            self.say(f"[redo] {name}: stored run {run.info.run_id[:8]} is damaged ({'; '.join(check.problems)}); "
                     "it is not reused")
        return None

    # executing and recording -----------------------------------------------------------------------
    def execute(self, parent: str, planned: list[CellSpec]) -> None:
        """Featurise what the cells need (here, once), then train them with the executor."""
        from benchmark.variants import get_variant
        inline = isinstance(self.executor, InlineExecutor)
        jobs = []
        for spec in planned:
            features = self.data.features(spec.dataset, spec.fold)  # the workers read them from the warm cache
            jobs.append((spec, features if inline else None))
        self.say(f"[run] {len(planned)} cell(s) on {self.executor.describe()}")
        if hasattr(self.executor, "say"):  # retries and dead workers are reported above the bar
            self.executor.say = self.say
        rows = {row.label: row for row in suite_rows(self.suite)}
        started: dict[str, float] = {}
        total, done = len(planned), [0]
        bar = tqdm(total=total, desc=f"{self.suite.name}: cells", unit="cell", position=0, leave=True,
                   disable=os.environ.get("TQDM_DISABLE") == "1", bar_format="{l_bar}{bar}| {n}/{total} "
                   "cells [{elapsed}<{remaining} from finished cells]")
        self._bar = bar

        def start(spec: CellSpec) -> str:
            tags = cell_tags(spec, suite_config_fingerprint=suite_config_fingerprint(rows[spec.row]),
                             variant_label=get_variant(spec.model, spec.variant).label,
                             features_fingerprint=self.data.features_fingerprint(spec.dataset, spec.fold))
            run_id = self.tracker.start_cell(self.suite.name, parent, short_run_name(spec.row, spec.slot, spec.seed),
                                             tags)
            self.tracker.log_params(run_id, {**dataclasses.asdict(spec.config), "seed": spec.seed})
            self._open[run_id] = spec.name
            started[run_id] = time.time()  # for cell_wall_seconds (queueing and loading included)
            self.say(f"[cell] {spec.name} ...")
            return run_id

        def finish(spec: CellSpec, run_id: str, outcome: CellOutcome) -> None:
            done[0] += 1
            self.record(spec, run_id, outcome, started.pop(run_id, None), f"{done[0]}/{total}")
            bar.update(1)

        try:
            self.executor.run(jobs, start, finish, lambda run_id: live_callbacks(self.tracker, run_id))
        finally:
            bar.close()
            self._bar = None

    def record(self, spec: CellSpec, run_id: str, outcome: CellOutcome, started: float | None,
               progress: str = "") -> None:
        """Store what a cell's training produced and say how it went."""
        def files() -> dict[str, Any]:
            splits = self.data.splits(spec.dataset, spec.fold)[0]
            dims = self.data.features(spec.dataset, spec.fold)[1].dims  # featurised by ``execute`` before training
            out: dict[str, Any] = {
                "config.json": config_record(spec, outcome, split_notes=splits.notes,
                                             cluster_unit=splits.cluster_unit, dims=dataclasses.asdict(dims)),
                "predictions.csv": self._with_clusters(outcome.result.test.frame([i.item_id for i in splits.test]),
                                                       spec.dataset, spec.fold)}
            if outcome.result.test.representation is not None:
                out["representation.npy"] = outcome.result.test.representation.astype("float16")
            return out

        status = record_outcome(self.tracker, run_id, spec, outcome, files=files, started=started)
        self._open.pop(run_id, None)
        suffix = f" ({progress})" if progress else ""
        if status == "UNAVAILABLE":  # not a result and not a failure: the row reads "not available: why"
            self.tally.unavailable.setdefault(spec.slot, {})[spec.row] = outcome.unavailable
            self.say(f"[{spec.row} | {spec.slot_label}] not available: {outcome.unavailable}")
        elif status == "FAILED":
            self.say(f"[FAILED] {spec.name}: {outcome.error}{suffix}")
            self.tally.failed_names.append(spec.name)
        else:
            self.tally.trained += 1
            result, m = outcome.result, outcome.result.test.metrics
            self.say(f"[done] {spec.name}: test accuracy {m['accuracy']:.3f}, F1 fake {m['fake_f1']:.3f}, "
                     f"F1 real {m['real_f1']:.3f} (best epoch {result.best_epoch}/{result.epochs_run}, "
                     f"{outcome.seconds:.1f}s)" + (f" [{progress} cells]" if progress else ""))

    def _close_open(self, reason: str) -> None:
        """Cells being trained when the run stops are closed as KILLED, never left RUNNING."""
        open_runs = {**getattr(self.tracker, "open_runs", {}), **self._open}  # also one opened a moment ago
        for run_id, name in open_runs.items():
            if run_id == self.parent_id:
                continue
            self.tracker.set_tags(run_id, {"error": reason})
            self.tracker.end(run_id, "KILLED")
            self._open.pop(run_id, None)
            self.tally.killed_cells.append(name)

    def _with_clusters(self, frame, dataset: str, fold: int | None = None):
        """predictions with a ``cluster`` column (the statistics resample and compare clusters, not items)."""
        clusters = self.data.test_clusters(dataset, fold)
        frame["cluster"] = [clusters.get(str(i), f"item:{i}") for i in frame["item_id"]]
        return frame

    def _record_setup_failure(self, parent: str, res: SlotResolution, row: SuiteRow, seed: int,
                              exc: Exception) -> None:
        name = f"{row.label} | {res.slot.label} | seed {seed}"
        run_id = self.tracker.start_cell(self.suite.name, parent, name, provenance_tags(
            suite=self.suite.name, model=row.model, variant=row.variant, row=row.label, dataset=res.slot.id,
            dataset_label=res.slot.label, dataset_name=res.dataset, data_source=res.source, seed=seed,
            protocol=self.options.protocol, error=f"{type(exc).__name__}: {exc}"[:4000]))
        self.tracker.log_files(run_id, {"traceback.txt": traceback.format_exc()})
        self.tracker.end(run_id, "FAILED")
        self.say(f"[FAILED] {name}: {type(exc).__name__}: {exc}")
        self.tally.failed_names.append(name)
