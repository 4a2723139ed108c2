"""Running a suite: resolve datasets, validate, featurise once, train every cell, log every cell.

A cell is one trained model: (suite, row = model + variant, dataset slot, seed, protocol). Each cell
is one MLflow child run; a failed cell is recorded as a FAILED run with its error and the suite goes
on (one broken model must not lose a whole table). A cell counts as finished only when a FINISHED run
of the same identity (``benchmark.cells``) has verified artifacts (``benchmark.artifacts``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
import traceback
from time import perf_counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from benchmark.artifacts import check_cell
from benchmark.cells import cell_identity, identity_tags
from benchmark.data.schema import DataError, DatasetSplits
from benchmark.data.spec import DatasetSpec, LoadOptions
from benchmark.engine import resolve_device
from benchmark.executors import CellJob, CellOutcome, InlineExecutor
from benchmark.features import FeatureSplits
from benchmark.registry import DATASETS, MODELS, SUITES, UnknownNameError, load_plugins, unknown_name_message
from benchmark.suites import DatasetSlot, Suite, SuiteRow
from benchmark.tracking import Tracker, fingerprint, git_commit, package_versions
from benchmark.variants import get_variant, resolve_config

log = logging.getLogger(__name__)
SYNTHETIC_BANNER = ("*** SYNTHETIC DATA: no real dataset was found under the data root; every number "
                    "below comes from the embedded synthetic set and says nothing about the papers. ***")


@dataclass
class RunOptions:
    suite: str
    data_root: Path | None = None
    data_root_explicit: bool = False
    workdir: Path = Path("bench-runs")
    seeds: int | None = None
    max_epochs: int | None = None
    limit: int | None = None
    device: str = "auto"
    protocol: str = "clean"
    text_encoder: str | None = None
    image_encoder: str | None = None
    text_encoder_path: str | None = None
    image_encoder_path: str | None = None
    on_missing_image: str = "drop"
    split: str = "random"  # datasets without a published split: random | grouped | publisher | event
    precision: str | None = None  # fp32 | bf16 (training and featurising); None = device default
    allow_leaks: bool = False
    keep_humor: bool = False
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> config overrides (--params best)
    rows: tuple[str, ...] = ()  # restrict to these row labels (empty = all)
    datasets: tuple[str, ...] = ()  # restrict to these slot ids (empty = all)


@dataclass
class SlotResolution:
    slot: DatasetSlot
    dataset: str | None  # registered dataset name, None when not available
    source: str  # "real" | "synthetic" | "not available"
    reason: str = ""

    @property
    def status(self) -> str:
        return f"{self.source}:{self.dataset}" if self.dataset else f"not available: {self.reason}"


def default_data_root() -> Path:
    return Path(os.environ.get("BENCH_DATA_ROOT", "data"))


def _real_specs() -> list[DatasetSpec]:
    return [DATASETS.get(n) for n in DATASETS.names() if DATASETS.get(n).kind == "real"]


def resolve_slots(slots: tuple[DatasetSlot, ...] | list[DatasetSlot], data_root: Path | None,
                  ) -> list[SlotResolution]:
    """Real data where found; synthetic for every slot only when no real dataset exists at all.

    When the data root holds some real dataset, a slot without its data is 'not available' (never
    silently replaced by synthetic data).
    """
    root_has_any = data_root is not None and any(s.available(data_root) for s in _real_specs())
    out = []
    for slot in slots:
        found = next((n for n in slot.real if DATASETS.get(n).available(data_root)), None)
        if found:
            out.append(SlotResolution(slot, found, "real"))
        elif not root_has_any:
            out.append(SlotResolution(slot, slot.synthetic, "synthetic"))
        else:
            wanted = ", ".join(f"{data_root}/{DATASETS.get(n).folder}" for n in slot.real) or "(none)"
            out.append(SlotResolution(slot, None, "not available",
                                      f"no {slot.label} data under the data root (looked for {wanted})"))
    return out


def check_data_root(slots: list[DatasetSlot], data_root: Path) -> None:
    """An explicitly given data root must exist, be a folder and hold at least one of the slots'
    datasets: a typo must never turn into a silent synthetic run."""
    wanted = [f"{data_root}/{DATASETS.get(n).folder}" for slot in slots for n in slot.real]
    if not data_root.exists():
        raise DataError(f"--data-root {data_root} does not exist; give the folder that holds "
                        f"{', '.join(sorted({Path(w).name for w in wanted})) or 'the datasets'}")
    if not data_root.is_dir():
        raise DataError(f"--data-root {data_root} is a file, not a folder of datasets")
    if not any(DATASETS.get(n).available(data_root) for slot in slots for n in slot.real):
        raise DataError(f"--data-root {data_root} holds none of this suite's datasets (looked for "
                        f"{', '.join(wanted) or '(no real dataset declared)'}); fix the path, or leave "
                        "--data-root out to run on the embedded synthetic data")


def check_rows(suite: Suite, rows: list[SuiteRow]) -> None:
    """Every row's model, variant and overrides resolve: a misspelt model in a suite file fails before
    featurising, naming the file and the row."""
    where = suite.source or f"suite {suite.name}"
    for row in rows:
        try:
            resolve_config(row.model, row.variant, row.overrides)
        except UnknownNameError as exc:
            raise UnknownNameError(f"{where}: row {row.label!r}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise UnknownNameError(f"{where}: row {row.label!r}: {exc}") from None


def validate_run(suite: Suite, options: RunOptions) -> None:
    """Everything about a run's arguments that can be checked before the store is touched: row labels
    and slot ids (exact, case included), the rows' models and variants, an explicit data root."""
    labels = [r.label for r in suite_rows(suite)]
    for label in options.rows:
        if label not in labels:
            raise UnknownNameError(f"--row: suite {suite.name}: {unknown_name_message('row', label, labels)}")
    slot_ids = [slot.id for slot in suite.datasets]
    for slot_id in options.datasets:
        if slot_id not in slot_ids:
            raise UnknownNameError(f"--dataset: suite {suite.name}: "
                                   f"{unknown_name_message('dataset slot', slot_id, slot_ids)}")
    check_rows(suite, [r for r in suite_rows(suite) if not options.rows or r.label in options.rows])
    if options.data_root_explicit and options.data_root is not None:
        check_data_root([s for s in suite.datasets if not options.datasets or s.id in options.datasets],
                        Path(options.data_root))


def suite_config_fingerprint(row: SuiteRow) -> str:
    """Fingerprint of the row's config as the suite defines it (no CLI overrides): reports use it to
    leave out cells stored under an older default configuration."""
    return fingerprint(dataclasses.asdict(resolve_config(row.model, row.variant, row.overrides)))


def suite_rows(suite: Suite) -> list[SuiteRow]:
    if suite.all_models:
        return [SuiteRow(label=name, model=name) for name in MODELS.names()]
    return list(suite.rows)


def short_encoder_names(identities: dict[str, str]) -> str:
    """'text <model> (weights <sha1[:8]>), image ...' for table headers; full identities stay in tags."""
    import re
    parts = []
    for role in ("text", "image"):
        identity = identities.get(role, "?")
        name = identity.split("|")[0].split(":", 1)[-1]
        sha = re.search(r"sha1=([0-9a-f]{8})", identity)
        parts.append(f"{role} {name}" + (f" (weights {sha.group(1)})" if sha else ""))
    return ", ".join(parts)


def get_encoders(options: RunOptions, language: str | None = None):
    """The text and image encoders a run uses: ``--text-encoder``, else the offline default for the
    dataset's language (MiniLM for English, USE multilingual for Chinese), and EfficientNet-Lite0."""
    from benchmark.encoders.catalog import DEFAULT_IMAGE_ENCODER, default_text_encoder, get_encoder
    from benchmark.encoders.precision import with_precision
    text = get_encoder(options.text_encoder or default_text_encoder(language), options.text_encoder_path)
    image = get_encoder(options.image_encoder or DEFAULT_IMAGE_ENCODER, options.image_encoder_path)
    precision = run_precision(options)
    return with_precision(text, precision), with_precision(image, precision)


def run_precision(options: RunOptions) -> str:
    """``--precision``, else the device's default: bf16 autocast on CUDA, fp32 on CPU (exact repeats)."""
    from benchmark.engine import default_precision
    return options.precision or default_precision(resolve_device(options.device))


def load_splits(dataset: str, options: RunOptions, limit: int | None = None,
                say=lambda message: print(message, flush=True)) -> tuple[DatasetSplits, dict[str, str]]:
    """Load, cap and validate (refusing leaking splits) one dataset; also the identities of the
    encoders that will featurise it. Cheap: enough to decide which cells are finished."""
    from benchmark.data.check import assert_no_leaks
    from benchmark.data.sampling import limit_splits

    spec: DatasetSpec = DATASETS.get(dataset)
    say(f"[data] loading {dataset} ({spec.description})")
    load_options = LoadOptions(seed=0, on_missing_image=options.on_missing_image,  # type: ignore[arg-type]
                               keep_humor=options.keep_humor, workdir=Path(options.workdir),
                               split=options.split)  # type: ignore[arg-type]
    splits = spec.load(options.data_root, load_options)
    from benchmark.data.check import group_problems
    grouped = group_problems(splits.problems)
    for line in grouped[:10]:
        say(f"[data]   {line}")
    if len(grouped) > 10:
        say(f"[data]   ... {len(grouped) - 10} more distinct problems (see `bench data check {dataset}`)")
    if limit:
        splits = limit_splits(splits, int(limit), seed=0)
    assert_no_leaks(splits, allow=options.allow_leaks)
    say("[data]   " + ", ".join(f"{k}: {v['total']} ({v['fake']} fake / {v['real']} real)"
                                for k, v in splits.counts().items()))
    say(f"[data]   split {splits.split_policy}; cluster unit {splits.cluster_unit}")
    text_encoder, image_encoder = get_encoders(options, splits.language)
    return splits, {"text": text_encoder.identity, "image": image_encoder.identity}


def extra_image_features(options: RunOptions) -> tuple[str, ...]:
    """Per-image features beyond the image encoder's that the run's models declare
    (``extra_image_features``, e.g. MCNN's "ela"): those of the suite's selected rows; every declared
    one when the suite is not registered here (a sweep), so a model never misses its input."""
    try:
        rows = suite_rows(SUITES.get(options.suite))
        models = {row.model for row in rows if not options.rows or row.label in options.rows}
    except KeyError:
        models = set(MODELS.names())
    return tuple(sorted({name for model in models
                         for name in getattr(MODELS.get(model), "extra_image_features", ())}))


def featurise(dataset: str, splits: DatasetSplits, options: RunOptions,
              say=lambda message: print(message, flush=True)) -> FeatureSplits:
    """Features of ``splits`` through the feature cache (each unique text and image encoded once)."""
    from benchmark.encoders.cache import FeatureCache
    from benchmark.encoders.featurize import build_feature_splits

    from benchmark.encoders.ela import EXTRA_IMAGE_ENCODERS

    text_encoder, image_encoder = get_encoders(options, splits.language)
    extras = {name: EXTRA_IMAGE_ENCODERS[name]() for name in extra_image_features(options)}
    features = build_feature_splits(splits, text_encoder, image_encoder, FeatureCache(Path(options.workdir) / "features"),
                                    extra_image_encoders=extras)
    if features.dims.num_events == 0:
        features = with_kmeans_events(features)
        say(f"[data]   no event labels in {dataset}: K-Means++ (k={features.dims.num_events}) over pooled "
            "text+image features of the training split, as the NovEmoFake paper did for EANN")
    return features


def load_features(dataset: str, options: RunOptions, limit: int | None = None,
                  say=lambda message: print(message, flush=True)) -> tuple[DatasetSplits, FeatureSplits]:
    """Load, cap, validate and featurise one dataset through the cache."""
    splits, _ = load_splits(dataset, options, limit, say)
    return splits, featurise(dataset, splits, options, say)


def with_kmeans_events(features: FeatureSplits, k: int = 10, seed: int = 0) -> FeatureSplits:
    """Event labels for datasets without them: K-Means++ fitted on training items only."""
    from benchmark.data.events import fit_kmeans_events

    def matrix(table):
        return torch.cat([table.get("text_pooled").float(), table.get("image_pooled").float()], dim=1).numpy()

    k = min(k, len(features.train))
    labels = fit_kmeans_events(matrix(features.train), {"validation": matrix(features.validation),
                                                        "test": matrix(features.test)}, k=k, seed=seed)
    tables = {}
    for name in ("train", "validation", "test"):
        table = features.split(name)
        tables[name] = dataclasses.replace(table, events=torch.from_numpy(labels[name]).long())
    return dataclasses.replace(features, **tables, dims=dataclasses.replace(features.dims, num_events=k))


def epoch_metrics(record: dict[str, float]) -> dict[str, float]:
    """An epoch's record as MLflow metrics. Per-epoch test scores (as-released only) are named
    ``epoch_test_*`` so that ``test_*`` always holds the selected epoch's single value."""
    return {("epoch_" + k if k.startswith("test_") else k): v for k, v in record.items() if k != "epoch"}


def short_run_name(row: str, slot: str, seed: int) -> str:
    """'COOLANT twitter s0': short enough that the MLflow UI's run column shows the seed."""
    return f"{row} {slot} s{seed}"


@dataclass
class _PlannedCell:
    """A cell that must be trained: its job for an executor and what its MLflow run records."""

    res: SlotResolution
    row: SuiteRow
    seed: int
    config: Any
    job: CellJob
    tags: dict[str, str]


class SuiteRunner:
    """Runs one suite invocation end to end; ``run()`` returns the number of failed cells.

    Three steps: resolve the suite into cells, decide which are finished (from the data and encoder
    identities alone, before any feature is loaded), execute the rest with an executor
    (``benchmark.executors``). This process is the only writer of the MLflow store.
    """

    def __init__(self, suite: Suite, options: RunOptions, out=None, executor=None) -> None:
        load_plugins()
        self.suite = suite
        self.options = options
        self.out = out
        self.workdir = Path(options.workdir)
        self.tracker = Tracker(self.workdir)
        self.device = resolve_device(options.device)
        self.executor = executor or InlineExecutor()
        self.seeds = list(range(options.seeds if options.seeds is not None else suite.seeds))
        self.max_epochs = options.max_epochs if options.max_epochs is not None else suite.max_epochs
        self.limit = options.limit if options.limit is not None else suite.limit
        self._splits: dict[str, tuple[DatasetSplits, dict[str, str]]] = {}
        self._features: dict[str, tuple[DatasetSplits, FeatureSplits]] = {}
        self._clusters: dict[str, dict[str, str]] = {}
        self._data_fingerprints: dict[str, str] = {}  # dataset -> splits.fingerprint() (one splits per dataset)
        self._open: dict[str, str] = {}  # MLflow run id -> cell name, for cells being trained
        self.killed_cells: list[str] = []  # cells closed as KILLED when the run stopped (named in the message)
        self.failed = 0
        self.failed_names: list[str] = []
        self._cell_started: dict[str, float] = {}
        self.synthetic = False
        self.trained = self.skipped = 0
        self.parent_id: str | None = None
        self._unavailable: dict[str, dict[str, str]] = {}
        self._bar = None  # the suite's cells bar while cells train (``say`` writes above it)

    def say(self, message: str) -> None:
        bar = self._bar
        if bar is not None and not bar.disable:  # keep the suite bar at the bottom of the terminal
            bar.write(message, file=self.out or sys.stdout)
        else:
            print(message, file=self.out or sys.stdout, flush=True)

    # data ----------------------------------------------------------------------------------------
    def splits_for(self, dataset: str) -> tuple[DatasetSplits, dict[str, str]]:
        """Validated splits and encoder identities (no features loaded)."""
        if dataset not in self._splits:
            self._splits[dataset] = load_splits(dataset, self.options, self.limit, say=self.say)
        return self._splits[dataset]

    def features_for(self, dataset: str) -> tuple[DatasetSplits, FeatureSplits]:
        if dataset not in self._features:
            splits, _ = self.splits_for(dataset)
            self._features[dataset] = (splits, featurise(dataset, splits, self.options, say=self.say))
        return self._features[dataset]

    def test_clusters(self, dataset: str) -> dict[str, str]:
        """item_id -> cluster key of every test item, under the dataset's cluster unit (stored per prediction)."""
        if dataset not in self._clusters:
            from benchmark.data.clusters import cluster_keys
            splits, _ = self.splits_for(dataset)
            self._clusters[dataset] = dict(zip((i.item_id for i in splits.test),
                                               cluster_keys(splits.test, splits.cluster_unit)))
        return self._clusters[dataset]

    # cells ---------------------------------------------------------------------------------------
    def run(self) -> int:
        opts = self.options
        validate_run(self.suite, opts)
        slots = [slot for slot in self.suite.datasets if not opts.datasets or slot.id in opts.datasets]
        resolutions = resolve_slots(slots, opts.data_root)
        rows = [r for r in suite_rows(self.suite) if not opts.rows or r.label in opts.rows]
        synthetic = any(r.source == "synthetic" for r in resolutions)
        self.synthetic = synthetic
        if synthetic:
            self.say(SYNTHETIC_BANNER + f" (data root searched: {opts.data_root})")
        started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        parent_tags = {"suite": self.suite.name, "protocol": opts.protocol, "started": started,
                       "git_commit": git_commit(), "data_root": str(opts.data_root),
                       "data_source": "synthetic" if synthetic else "real",
                       "device": str(self.device), "precision": run_precision(opts),
                       "executor": self.executor.describe(), "on_missing_image": opts.on_missing_image,
                       "split": opts.split,
                       **{f"slot.{r.slot.id}": r.status for r in resolutions},
                       **{f"version.{k}": v for k, v in package_versions().items()}}
        if synthetic:
            parent_tags["WARNING"] = "synthetic data"
        parent = self.tracker.start_parent(self.suite.name, parent_tags, {
            "seeds": len(self.seeds), "max_epochs": self.max_epochs, "limit": self.limit,
            "rows": [r.label for r in rows]})
        self.failed = self.trained = self.skipped = 0
        self.parent_id = parent
        wall_start = perf_counter()
        status = "FINISHED"
        unavailable = self._unavailable = {}  # slot id -> row label -> why the row cannot run there
        try:
            planned: list[_PlannedCell] = []
            for res in resolutions:
                if res.dataset is None:
                    self.say(f"[{res.slot.label}] not available: {res.reason}")
                    continue
                self.splits_for(res.dataset)  # bad data (e.g. leaking splits) stops the run here, before training
                for row in rows:
                    reason = self.row_unavailable(res, row)
                    if reason is not None:
                        unavailable.setdefault(res.slot.id, {})[row.label] = reason
                        self.say(f"[{row.label} | {res.slot.label}] not available: {reason}")
                        continue
                    for seed in self.seeds:
                        plan = self.plan_cell(parent, res, row, seed)
                        if isinstance(plan, bool):
                            self.failed += not plan
                            self.skipped += plan
                        else:
                            planned.append(plan)
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
            self.tracker.set_tags(parent, {"failed_cells": self.failed,
                                           **({"rows_not_available": json.dumps(unavailable)} if unavailable else {})})
            self.tracker.log_metrics(parent, {"cells_trained": self.trained, "cells_skipped": self.skipped,
                                              "cells_failed": self.failed,
                                              "wall_seconds": perf_counter() - wall_start}, step=0)
            self.tracker.end(parent, status)
        if status == "FINISHED" and not self.trained and not self.failed and not unavailable:
            # nothing ran: the finished cells keep their own invocation; no empty parent per re-run
            self.tracker.client.delete_run(parent)
            self.parent_id = None
        return self.failed

    def row_unavailable(self, res: SlotResolution, row: SuiteRow) -> str | None:
        """Why ``row`` cannot run on this slot's data, or None: a background-knowledge row (WBG) on a
        dataset without sources is 'not available', not a failed cell."""
        splits, _ = self.splits_for(res.dataset)
        try:
            config = resolve_config(row.model, row.variant, row.overrides)
        except Exception:  # noqa: BLE001 - a row that cannot be configured is recorded by plan_cell
            return None
        if getattr(config, "use_background", False) and not splits.has_source:
            from benchmark.data.novemofake import GENERIC_NO_SOURCES, NO_SOURCES_NOTE
            for note in splits.notes:
                if note.startswith(NO_SOURCES_NOTE):  # the loader's reason when it knows one, else the file
                    reason = note.split(":", 1)[1].strip() if ":" in note else ""
                    return reason if reason and reason != GENERIC_NO_SOURCES else NO_SOURCES_NOTE
            return "the dataset has no background-knowledge sources"
        return None

    def identity(self, res: SlotResolution, row: SuiteRow, seed: int, config, splits: DatasetSplits,
                 encoders: dict[str, str]) -> dict[str, Any]:
        dataset = str(res.dataset)
        if dataset not in self._data_fingerprints:  # hash every item once per dataset, not once per cell
            self._data_fingerprints[dataset] = splits.fingerprint()
        return cell_identity(model=row.model, variant=row.variant, config=config, dataset=dataset,
                             splits=splits, encoders=encoders, seed=seed, protocol=self.options.protocol,
                             limit=self.limit, precision=run_precision(self.options),
                             data_fingerprint=self._data_fingerprints[dataset])

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

    def plan_cell(self, parent: str, res: SlotResolution, row: SuiteRow, seed: int) -> bool | _PlannedCell:
        """True when the cell is finished (or reused from another suite), False when it cannot even be
        set up (recorded as FAILED), else the cell to train."""
        name = f"{row.label} | {res.slot.label} | seed {seed}"
        try:
            splits, encoders = self.splits_for(res.dataset)
            overrides = {**self.options.params.get(row.model, {}), **row.overrides}
            if self.max_epochs is not None:
                overrides["max_epochs"] = int(self.max_epochs)
            config = resolve_config(row.model, row.variant, overrides)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a cell that cannot even be set up is still recorded
            return self._record_setup_failure(parent, res, row, seed, exc)
        identity = self.identity(res, row, seed, config, splits, encoders)
        id_tags = identity_tags(identity)
        cell_key, config_fp = id_tags["cell_key"], fingerprint(dataclasses.asdict(config))
        done = self.verified_finished(self.suite.name, cell_key, name)
        if done is not None:
            self.say(f"[skip] {name}: finished earlier (run {done.info.run_id[:8]})")
            return True
        for other in self.suite.reuses:
            prior = self.verified_finished(other, cell_key, name)
            if prior is not None:
                self.tracker.copy_cell(prior, self.suite.name, parent, {"suite": self.suite.name,
                                                                         "row": row.label})
                self.say(f"[reuse] {name}: finished in suite {other} (run {prior.info.run_id[:8]})")
                return True
        tags = {"suite": self.suite.name, "model": row.model, "variant": row.variant, "row": row.label,
                "dataset": res.slot.id, "dataset_label": res.slot.label, "dataset_name": res.dataset,
                "data_source": res.source, "seed": seed, "protocol": self.options.protocol,
                **id_tags, "config_fingerprint": config_fp, "git_commit": git_commit(),
                "suite_config_fingerprint": suite_config_fingerprint(row),
                "data_fingerprint": splits.fingerprint(), "encoder.text": encoders.get("text", ""),
                "encoder.image": encoders.get("image", ""),
                "encoders": short_encoder_names(encoders), "on_missing_image": self.options.on_missing_image,
                "variant_label": get_variant(row.model, row.variant).label, "limit": self.limit,
                "device": str(self.device), "precision": run_precision(self.options),
                "split": splits.split_policy, "cluster_unit": splits.cluster_unit,
                **{f"version.{k}": v for k, v in package_versions().items()}}
        if res.source == "synthetic":
            tags["WARNING"] = "synthetic data"
        # precision pinned here: a job on another host (a GPU node under --device auto) must train and
        # read features at the precision this cell's identity records
        job = CellJob(name=name, dataset=str(res.dataset), limit=self.limit,
                      options=dataclasses.replace(self.options, precision=run_precision(self.options)),
                      model=row.model, config=config, seed=seed,
                      keep_representation=self.suite.store_representation, key=cell_key)
        return _PlannedCell(res=res, row=row, seed=seed, config=config, job=job,
                            tags={k: str(v) for k, v in tags.items()})

    def execute(self, parent: str, planned: list[_PlannedCell]) -> None:
        """Featurise what the cells need (here, once), then train them with the executor."""
        by_key = {plan.job.key: plan for plan in planned}
        inline = isinstance(self.executor, InlineExecutor)
        jobs = []
        for plan in planned:
            features = self.features_for(plan.job.dataset)  # the workers read them from the warm cache
            jobs.append((plan.job, features if inline else None))
        self.say(f"[run] {len(planned)} cell(s) on {self.executor.describe()}")
        run_ids: dict[str, str] = {}
        total, done = len(planned), [0]
        bar = tqdm(total=total, desc=f"{self.suite.name}: cells", unit="cell", position=0, leave=True,
                   disable=os.environ.get("TQDM_DISABLE") == "1", bar_format="{l_bar}{bar}| {n}/{total} "
                   "cells [{elapsed}<{remaining} from finished cells]")
        self._bar = bar

        def start(job: CellJob) -> str:
            plan = by_key[job.key]
            run_id = self.tracker.start_cell(self.suite.name, parent, short_run_name(plan.row.label, plan.res.slot.id,
                                                                                  plan.seed), plan.tags)
            self.tracker.log_params(run_id, {**dataclasses.asdict(job.config), "seed": job.seed})
            self._open[run_id] = job.name
            self._cell_started[run_id] = time.time()  # for cell_wall_seconds (queueing and loading included)
            run_ids[job.key] = run_id
            self.say(f"[cell] {job.name} ...")
            return run_id

        def live(run_id: str) -> dict[str, Any]:
            return {"on_epoch": lambda epoch, record: self.tracker.log_metrics(
                        run_id, epoch_metrics(record), step=epoch),
                    "log_artifact": lambda path: self.tracker.log_artifact(run_id, path),
                    "log_metrics": lambda metrics, step=0: self.tracker.log_metrics(run_id, metrics, step)}

        def finish(job: CellJob, run_id: str, outcome: CellOutcome) -> None:
            done[0] += 1
            self.failed += not self.record_outcome(by_key[job.key], run_id, outcome, f"{done[0]}/{total}")
            bar.update(1)

        try:
            self.executor.run(jobs, start, finish, live)
        finally:
            bar.close()
            self._bar = None

    def record_outcome(self, plan: _PlannedCell, run_id: str, outcome: CellOutcome, progress: str = "") -> bool:
        """Store what a cell's training produced (the store's single writer); True when it finished."""
        name, res, row, seed, config = plan.job.name, plan.res, plan.row, plan.seed, plan.config
        if not outcome.live:
            for epoch, record in outcome.epochs:
                self.tracker.log_metrics(run_id, epoch_metrics(record), step=epoch)
            for metrics, step in outcome.extra_metrics:
                self.tracker.log_metrics(run_id, metrics, step)
            for path in outcome.artifacts:
                self.tracker.log_artifact(run_id, path)
        if outcome.n_params:
            self.tracker.log_params(run_id, {"n_params": outcome.n_params})
        if outcome.job_id:  # a cluster job ran the cell: where to look when it misbehaved
            self.tracker.set_tags(run_id, {"executor.job_id": outcome.job_id,
                                           "executor.log": " ".join(outcome.logs)})
        if outcome.unavailable:  # not a result and not a failure: the row reads "not available: why"
            self.tracker.client.delete_run(run_id)
            self._open.pop(run_id, None)
            self._unavailable.setdefault(res.slot.id, {})[row.label] = outcome.unavailable
            self.say(f"[{row.label} | {res.slot.label}] not available: {outcome.unavailable}")
            return True
        if not outcome.ok:
            for log_file in outcome.logs:  # the job's own log, when the shared file system has it
                if Path(log_file).is_file() and os.access(log_file, os.R_OK):
                    self.tracker.log_artifact(run_id, log_file)
            self.tracker.set_tags(run_id, {"error": outcome.error[:4000]})
            self.tracker.log_files(run_id, {"traceback.txt": outcome.traceback})
            self.tracker.end(run_id, "FAILED")
            self._open.pop(run_id, None)
            self.say(f"[FAILED] {name}: {outcome.error}" + (f" ({progress})" if progress else ""))
            self.failed_names.append(name)
            return False
        result = outcome.result
        splits, _ = self.splits_for(res.dataset)
        seconds = outcome.seconds
        final = {**{f"test_{k}": v for k, v in result.test.metrics.items()},
                 **{f"selected_val_{k}": v for k, v in result.validation.metrics.items()},
                 "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "train_seconds": seconds,
                 "cell_wall_seconds": time.time() - self._cell_started.pop(run_id, time.time())}
        self.tracker.log_metrics(run_id, final, step=0)  # single values, not points of the epoch curves
        dims = self.features_for(res.dataset)[1].dims  # featurised by ``execute`` before training
        files: dict[str, Any] = {
            "config.json": {"model": row.model, "variant": row.variant, "row": row.label,
                            "config": dataclasses.asdict(config), "dataset": res.dataset,
                            "protocol": self.options.protocol, "seed": seed, "selected_on": result.selected_on,
                            "encoders": self.splits_for(res.dataset)[1], "limit": self.limit,
                            "split_notes": splits.notes, "cluster_unit": splits.cluster_unit,
                            "dims": dataclasses.asdict(dims)},
            "predictions.csv": self._with_clusters(result.test.frame([i.item_id for i in splits.test]),
                                                   res.dataset),
            "history.csv": result.history,
        }
        if result.test.representation is not None:
            files["representation.npy"] = result.test.representation.astype("float16")
        self.tracker.log_files(run_id, files)
        self.tracker.end(run_id, "FINISHED")
        self._open.pop(run_id, None)
        self.trained += 1
        m = result.test.metrics
        self.say(f"[done] {name}: test accuracy {m['accuracy']:.3f}, F1 fake {m['fake_f1']:.3f}, "
                 f"F1 real {m['real_f1']:.3f} (best epoch {result.best_epoch}/{result.epochs_run}, {seconds:.1f}s)"
                 + (f" [{progress} cells]" if progress else ""))
        return True

    def _close_open(self, reason: str) -> None:
        """Cells being trained when the run stops are closed as KILLED, never left RUNNING."""
        open_runs = {**getattr(self.tracker, "open_runs", {}), **self._open}  # also one opened a moment ago
        for run_id, name in open_runs.items():
            if run_id == self.parent_id:
                continue
            self.tracker.set_tags(run_id, {"error": reason})
            self.tracker.end(run_id, "KILLED")
            self._open.pop(run_id, None)
            self.killed_cells.append(name)

    def _with_clusters(self, frame, dataset: str):
        """predictions with a ``cluster`` column (the statistics resample and compare clusters, not items)."""
        clusters = self.test_clusters(dataset)
        frame["cluster"] = [clusters.get(str(i), f"item:{i}") for i in frame["item_id"]]
        return frame

    def _record_setup_failure(self, parent: str, res: SlotResolution, row: SuiteRow, seed: int,
                              exc: Exception) -> bool:
        name = f"{row.label} | {res.slot.label} | seed {seed}"
        run_id = self.tracker.start_cell(self.suite.name, parent, name, {
            "suite": self.suite.name, "model": row.model, "variant": row.variant, "row": row.label,
            "dataset": res.slot.id, "dataset_label": res.slot.label, "dataset_name": str(res.dataset),
            "data_source": res.source, "seed": str(seed), "protocol": self.options.protocol,
            "error": f"{type(exc).__name__}: {exc}"[:4000]})
        self.tracker.log_files(run_id, {"traceback.txt": traceback.format_exc()})
        self.tracker.end(run_id, "FAILED")
        self.say(f"[FAILED] {name}: {type(exc).__name__}: {exc}")
        self.failed_names.append(name)
        return False
