"""Running a suite: resolve datasets, validate, featurise once, train every cell, log every cell.

A cell is one trained model: (suite, row = model + variant, dataset slot, seed, protocol). Each cell
is one MLflow child run; a failed cell is recorded as a FAILED run with its error and the suite goes
on (one broken model must not lose a whole table). A cell counts as finished only when a FINISHED run
of the same identity (``benchmark.cells``) has verified artifacts (``benchmark.artifacts``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from benchmark.artifacts import check_cell
from benchmark.cells import cell_identity, identity_tags
from benchmark.data.schema import DataError, DatasetSplits
from benchmark.data.spec import DatasetSpec, LoadOptions
from benchmark.engine import resolve_device, train_model
from benchmark.features import FeatureSplits
from benchmark.models.base import PrepareContext
from benchmark.registry import DATASETS, MODELS, UnknownNameError, load_plugins, unknown_name_message
from benchmark.suites import DatasetSlot, Suite, SuiteRow
from benchmark.tracking import Tracker, fingerprint, git_commit, package_versions
from benchmark.variants import build_model, get_variant, resolve_config

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


def get_encoders(options: RunOptions):
    """The text and image encoders a run uses (offline MiniLM + EfficientNet-Lite0 by default)."""
    from benchmark.encoders.catalog import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER, get_encoder
    text = get_encoder(options.text_encoder or DEFAULT_TEXT_ENCODER, options.text_encoder_path)
    image = get_encoder(options.image_encoder or DEFAULT_IMAGE_ENCODER, options.image_encoder_path)
    return text, image


def load_features(dataset: str, options: RunOptions, limit: int | None = None,
                  say=lambda message: print(message, flush=True)) -> tuple[DatasetSplits, FeatureSplits]:
    """Load, cap, validate (refusing leaking splits) and featurise one dataset through the cache."""
    from benchmark.data.check import assert_no_leaks
    from benchmark.data.sampling import limit_splits
    from benchmark.encoders.cache import FeatureCache
    from benchmark.encoders.featurize import build_feature_splits

    spec: DatasetSpec = DATASETS.get(dataset)
    say(f"[data] loading {dataset} ({spec.description})")
    load_options = LoadOptions(seed=0, on_missing_image=options.on_missing_image,  # type: ignore[arg-type]
                               keep_humor=options.keep_humor, workdir=Path(options.workdir))
    splits = spec.load(options.data_root, load_options)
    for problem in splits.problems[:10]:
        say(f"[data]   {problem}")
    if len(splits.problems) > 10:
        say(f"[data]   ... {len(splits.problems) - 10} more problems (see `bench data check {dataset}`)")
    if limit:
        splits = limit_splits(splits, int(limit), seed=0)
    assert_no_leaks(splits, allow=options.allow_leaks)
    say("[data]   " + ", ".join(f"{k}: {v['total']} ({v['fake']} fake / {v['real']} real)"
                                for k, v in splits.counts().items()))
    text_encoder, image_encoder = get_encoders(options)
    features = build_feature_splits(splits, text_encoder, image_encoder, FeatureCache(Path(options.workdir) / "features"))
    if features.dims.num_events == 0:
        features = with_kmeans_events(features)
        say(f"[data]   no event labels in {dataset}: K-Means++ (k={features.dims.num_events}) over pooled "
            "text+image features of the training split, as the NovEmoFake paper did for EANN")
    return splits, features


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


class SuiteRunner:
    """Runs one suite invocation end to end; ``run()`` returns the number of failed cells."""

    def __init__(self, suite: Suite, options: RunOptions, out=None) -> None:
        load_plugins()
        self.suite = suite
        self.options = options
        self.out = out
        self.workdir = Path(options.workdir)
        self.tracker = Tracker(self.workdir)
        self.device = resolve_device(options.device)
        self.seeds = list(range(options.seeds if options.seeds is not None else suite.seeds))
        self.max_epochs = options.max_epochs if options.max_epochs is not None else suite.max_epochs
        self.limit = options.limit if options.limit is not None else suite.limit
        self._features: dict[str, tuple[DatasetSplits, FeatureSplits]] = {}
        self.killed_cells: list[str] = []  # cells closed as KILLED by an interrupt (named in the one-line message)

    def say(self, message: str) -> None:
        print(message, file=self.out or sys.stdout, flush=True)

    # data ----------------------------------------------------------------------------------------
    def features_for(self, dataset: str) -> tuple[DatasetSplits, FeatureSplits]:
        if dataset not in self._features:
            self._features[dataset] = load_features(dataset, self.options, self.limit, say=self.say)
        return self._features[dataset]

    # cells ---------------------------------------------------------------------------------------
    def run(self) -> int:
        opts = self.options
        validate_run(self.suite, opts)
        slots = [slot for slot in self.suite.datasets if not opts.datasets or slot.id in opts.datasets]
        resolutions = resolve_slots(slots, opts.data_root)
        rows = [r for r in suite_rows(self.suite) if not opts.rows or r.label in opts.rows]
        synthetic = any(r.source == "synthetic" for r in resolutions)
        if synthetic:
            self.say(SYNTHETIC_BANNER)
        started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        parent_tags = {"suite": self.suite.name, "protocol": opts.protocol, "started": started,
                       "git_commit": git_commit(), "data_root": str(opts.data_root),
                       "data_source": "synthetic" if synthetic else "real",
                       "device": str(self.device), "on_missing_image": opts.on_missing_image,
                       **{f"slot.{r.slot.id}": r.status for r in resolutions},
                       **{f"version.{k}": v for k, v in package_versions().items()}}
        if synthetic:
            parent_tags["WARNING"] = "synthetic data"
        parent = self.tracker.start_parent(self.suite.name, parent_tags, {
            "seeds": len(self.seeds), "max_epochs": self.max_epochs, "limit": self.limit,
            "rows": [r.label for r in rows]})
        failed = 0
        status = "FINISHED"
        try:
            for res in resolutions:
                if res.dataset is None:
                    self.say(f"[{res.slot.label}] not available: {res.reason}")
                    continue
                self.features_for(res.dataset)  # bad data (e.g. leaking splits) stops the run here, before training
                for row in rows:
                    for seed in self.seeds:
                        failed += not self.run_cell(parent, res, row, seed)
        except KeyboardInterrupt as exc:
            status = "KILLED"
            reason = str(exc) or "interrupted (Ctrl-C)"
            for run_id, name in list(self.tracker.open_runs.items()):  # interrupted between two statements
                if run_id != parent:
                    self.tracker.set_tags(run_id, {"error": reason})
                    self.tracker.end(run_id, "KILLED")
                    self.killed_cells.append(name)
            self.tracker.set_tags(parent, {"error": reason})
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            self.tracker.set_tags(parent, {"failed_cells": failed})
            self.tracker.end(parent, status)
        return failed

    def identity(self, res: SlotResolution, row: SuiteRow, seed: int, config, splits: DatasetSplits,
                 features: FeatureSplits) -> dict[str, Any]:
        return cell_identity(model=row.model, variant=row.variant, config=config, dataset=str(res.dataset),
                             splits=splits, features=features, seed=seed, protocol=self.options.protocol,
                             limit=self.limit, device=self.device)

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

    def run_cell(self, parent: str, res: SlotResolution, row: SuiteRow, seed: int) -> bool:
        name = f"{row.label} | {res.slot.label} | seed {seed}"
        try:
            splits, features = self.features_for(res.dataset)
            overrides = {**self.options.params.get(row.model, {}), **row.overrides}
            if self.max_epochs is not None:
                overrides["max_epochs"] = int(self.max_epochs)
            config = resolve_config(row.model, row.variant, overrides)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a cell that cannot even be set up is still recorded
            return self._record_setup_failure(parent, res, row, seed, exc)
        identity = self.identity(res, row, seed, config, splits, features)
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
                "data_fingerprint": splits.fingerprint(), "encoder.text": features.encoders.get("text", ""),
                "encoder.image": features.encoders.get("image", ""),
                "encoders": short_encoder_names(features.encoders), "on_missing_image": self.options.on_missing_image,
                "variant_label": get_variant(row.model, row.variant).label, "limit": self.limit,
                "device": str(self.device), **{f"version.{k}": v for k, v in package_versions().items()}}
        if res.source == "synthetic":
            tags["WARNING"] = "synthetic data"
        run_id = self.tracker.start_cell(self.suite.name, parent, name, {k: str(v) for k, v in tags.items()})
        started = time.time()
        try:
            self.say(f"[cell] {name} ...")
            torch.manual_seed(seed)
            model = build_model(row.model, config, features.dims)
            self.tracker.log_params(run_id, {**dataclasses.asdict(config), "seed": seed,
                                              "n_params": sum(p.numel() for p in model.parameters())})
            context = PrepareContext(
                device=self.device, seed=seed, cache_dir=self.workdir / "pretrained",
                log_artifact=lambda path: self.tracker.log_artifact(run_id, path),
                log_metrics=lambda metrics, step=0: self.tracker.log_metrics(run_id, metrics, step))
            result = train_model(
                model, features, protocol=self.options.protocol, seed=seed, device=self.device,
                prepare_context=context, keep_representation=self.suite.store_representation,
                on_epoch=lambda epoch, record: self.tracker.log_metrics(
                    run_id, {k: v for k, v in record.items() if k != "epoch"}, step=epoch))
            seconds = time.time() - started
            final = {**{f"test_{k}": v for k, v in result.test.metrics.items()},
                     **{f"selected_val_{k}": v for k, v in result.validation.metrics.items()},
                     "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "train_seconds": seconds}
            self.tracker.log_metrics(run_id, final, step=result.epochs_run)
            files: dict[str, Any] = {
                "config.json": {"model": row.model, "variant": row.variant, "row": row.label,
                                "config": dataclasses.asdict(config), "dataset": res.dataset,
                                "protocol": self.options.protocol, "seed": seed, "selected_on": result.selected_on,
                                "encoders": features.encoders, "limit": self.limit, "dims": dataclasses.asdict(features.dims),
                                "split_notes": splits.notes},
                "predictions.csv": result.test.frame(features.test.item_ids),
                "history.csv": result.history,
            }
            if result.test.representation is not None:
                files["representation.npy"] = result.test.representation.astype("float16")
            self.tracker.log_files(run_id, files)
            self.tracker.end(run_id, "FINISHED")
            m = result.test.metrics
            self.say(f"[done] {name}: test accuracy {m['accuracy']:.3f}, F1 fake {m['fake_f1']:.3f}, "
                     f"F1 real {m['real_f1']:.3f} (best epoch {result.best_epoch}/{result.epochs_run}, {seconds:.1f}s)")
            return True
        except KeyboardInterrupt as exc:
            self.tracker.set_tags(run_id, {"error": str(exc) or "interrupted (Ctrl-C)"})
            self.tracker.end(run_id, "KILLED")
            self.killed_cells.append(name)
            raise
        except Exception as exc:
            self.tracker.set_tags(run_id, {"error": f"{type(exc).__name__}: {exc}"[:4000]})
            self.tracker.log_files(run_id, {"traceback.txt": traceback.format_exc()})
            self.tracker.end(run_id, "FAILED")
            self.say(f"[FAILED] {name}: {type(exc).__name__}: {exc}")
            log.debug("cell failed", exc_info=True)
            return False

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
        return False
