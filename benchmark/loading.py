"""Loading a dataset for cells: run options, validated splits, encoder identities and cached features.

Why its own module: the suite runner, the executors' workers, Optuna trials and the benchmark script
all load data the same way; before, they imported it back from ``benchmark.runner``, which imports the
executors (an import circle). This module imports neither.

``RunOptions.precision`` is resolved once (``resolve_options``): everything downstream reads the
concrete "fp32"/"bf16" and never re-derives it from the device.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchmark.data.schema import DatasetSplits
from benchmark.data.spec import DEFAULT_SPLIT, DatasetSpec, LoadOptions
from benchmark.registry import DATASETS

Say = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


@dataclass
class RunOptions:
    """What a user chose for a run (CLI flags or their defaults): how data is found, loaded, featurised
    and trained. ``resolve_options`` turns a device default (``precision=None``) into a value."""

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
    split: str = DEFAULT_SPLIT  # --split: paper | published | random | grouped | publisher | event
    precision: str | None = None  # fp32 | bf16 (training and featurising); None = device default
    allow_leaks: bool = False
    keep_humor: bool = False
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> config overrides (--params best)
    rows: tuple[str, ...] = ()  # restrict to these row labels (empty = all)
    datasets: tuple[str, ...] = ()  # restrict to these slot ids (empty = all)
    folds: int | None = None  # K-fold cross-validation over every labelled item (benchmark.data.folds)
    fold_by: str | None = None  # event | publisher | grouped | image; None = the dataset's default
    clip_path: str | None = None  # --clip-path: a local CLIP folder for FND-CLIP (benchmark.encoders.clip)
    entity_file: str | None = None  # --entity-file: posts' linked entities for MKEMN (benchmark.data.entities)


def resolve_options(options: RunOptions) -> RunOptions:
    """The options with ``precision`` made concrete: ``--precision``, else the device's default
    (bf16 autocast on CUDA, fp32 on CPU). The one place it is decided."""
    if options.precision:
        return options
    from benchmark.engine import default_precision, resolve_device
    return dataclasses.replace(options, precision=default_precision(resolve_device(options.device)))


def default_data_root() -> Path:
    return Path(os.environ.get("BENCH_DATA_ROOT", "data"))


def short_encoder_names(identities: dict[str, str]) -> str:
    """'text <model> (weights <sha1[:8]>), image ...' for table headers; full identities stay in tags."""
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
    if not options.precision:
        raise ValueError("RunOptions.precision is unresolved; pass the options through resolve_options first")
    text = get_encoder(options.text_encoder or default_text_encoder(language), options.text_encoder_path)
    image = get_encoder(options.image_encoder or DEFAULT_IMAGE_ENCODER, options.image_encoder_path)
    return with_precision(text, options.precision), with_precision(image, options.precision)


def _loaded(dataset: str, options: RunOptions, limit: int | None, say: Say,
            cache: dict[tuple, DatasetSplits] | None) -> DatasetSplits:
    """The dataset as read and capped; ``cache`` (a run's own dict) keeps it for the K fold cells of
    a dataset. No module-level cache: data edited between two runs of one process must be re-read."""
    from benchmark.data.check import group_problems
    from benchmark.data.sampling import limit_splits

    key = (dataset, str(options.data_root), options.on_missing_image, options.keep_humor, str(options.workdir),
           options.split, limit)
    if cache is not None and key in cache:
        return cache[key]
    spec: DatasetSpec = DATASETS.get(dataset)
    say(f"[data] loading {dataset} ({spec.description})")
    load_options = LoadOptions(seed=0, on_missing_image=options.on_missing_image,  # type: ignore[arg-type]
                               keep_humor=options.keep_humor, workdir=Path(options.workdir),
                               split=options.split)  # type: ignore[arg-type]
    splits = spec.load(options.data_root, load_options)
    grouped = group_problems(splits.problems)
    for line in grouped[:10]:
        say(f"[data]   {line}")
    if len(grouped) > 10:
        say(f"[data]   ... {len(grouped) - 10} more distinct problems (see `bench data check {dataset}`)")
    if limit:
        splits = limit_splits(splits, int(limit), seed=0)
    if cache is not None:
        cache[key] = splits
    return splits


def read_splits(dataset: str, options: RunOptions, limit: int | None = None, say: Say = _print) -> DatasetSplits:
    """The dataset as read and capped: no encoders, no folds, no torch (``bench plan`` reads clusters
    from it before anything is trained)."""
    return _loaded(dataset, options, limit, say, None)


_FOLD_PLANS: dict[tuple, Any] = {}


def load_splits(dataset: str, options: RunOptions, limit: int | None = None, say: Say = _print,
                fold: int | None = None, cache: dict | None = None) -> tuple[DatasetSplits, dict[str, str]]:
    """Load, cap and validate (refusing leaking splits) one dataset; also the identities of the
    encoders that will featurise it. Cheap: enough to decide which cells are finished.

    With ``options.folds`` (cross-validation) the splits are fold ``fold``'s: every labelled item
    pooled, whole groups assigned to folds (``benchmark.data.folds``), the fold tested. ``cache``: a
    dict the caller keeps to read the dataset once for all its folds."""
    from benchmark.data.check import assert_no_leaks

    splits = _loaded(dataset, options, limit, say, cache)
    if options.folds:
        splits = _fold(dataset, splits, options, fold, say)
    assert_no_leaks(splits, allow=options.allow_leaks)
    say("[data]   " + ", ".join(f"{k}: {v['total']} ({v['fake']} fake / {v['real']} real)"
                                for k, v in splits.counts().items()))
    say(f"[data]   split {splits.split_policy}; cluster unit {splits.cluster_unit}")
    text_encoder, image_encoder = get_encoders(options, splits.language)
    return splits, {"text": text_encoder.identity, "image": image_encoder.identity, **extra_identities(options)}


def _selected_models(options: RunOptions) -> set[str]:
    """The models of the suite's selected rows; every registered model when the suite is not
    registered here (a sweep, perf.py), so a model never misses its input."""
    from benchmark.registry import MODELS, SUITES
    from benchmark.suites.resolve import suite_rows
    try:
        rows = suite_rows(SUITES.get(options.suite))
        return {row.model for row in rows if not options.rows or row.label in options.rows}
    except KeyError:
        return set(MODELS.names())


def optional_inputs(options: RunOptions) -> tuple[str, ...]:
    """Optional inputs the run supplies and a selected model can read (``optional_inputs``): "clip"
    with ``--clip-path``, "entities" with ``--entity-file``."""
    from benchmark.registry import MODELS
    supplied = {"clip": options.clip_path, "entities": options.entity_file}
    wanted = {name for model in _selected_models(options) for name in getattr(MODELS.get(model), "optional_inputs", ())}
    return tuple(sorted(name for name in wanted if supplied.get(name)))


def extra_identities(options: RunOptions) -> dict[str, str]:
    """Identities of the features beyond the two encoders' (key -> identity): the extra per-image
    encoders (``image_<name>``) and the optional inputs. ``input_keys`` says which a model's cells carry."""
    from benchmark.data.entities import entity_file_identity
    from benchmark.encoders.clip import clip_pair
    from benchmark.encoders.ela import EXTRA_IMAGE_ENCODERS
    out = {f"image_{name}": EXTRA_IMAGE_ENCODERS[name]().identity for name in extra_image_features(options)}
    inputs = optional_inputs(options)
    if "clip" in inputs:
        from benchmark.encoders.precision import with_precision
        text, image = clip_pair(str(options.clip_path))
        out.update({"text_clip": with_precision(text, options.precision).identity,
                    "image_clip": with_precision(image, options.precision).identity})
    if "entities" in inputs:
        out["entities"] = entity_file_identity(str(options.entity_file))
    return out


def input_keys(model_class) -> set[str]:
    """The keys of ``extra_identities`` a model reads, so only its own inputs enter its cells' identity."""
    keys = {f"image_{name}" for name in getattr(model_class, "extra_image_features", ())}
    for name in getattr(model_class, "optional_inputs", ()):
        keys |= {"text_clip", "image_clip"} if name == "clip" else {name}
    return keys


def encoders_read_by(model: str, encoders: dict[str, str]) -> dict[str, str]:
    """The part of ``load_splits``'s identities that a cell of ``model`` depends on: the two encoders and
    the extra inputs its model reads, so a flag for another row never changes this row's cells."""
    from benchmark.registry import MODELS
    reads = input_keys(MODELS.get(model))
    return {role: identity for role, identity in encoders.items() if role in ("text", "image") or role in reads}


def extra_image_features(options: RunOptions) -> tuple[str, ...]:
    """Per-image features beyond the image encoder's that the run's models declare
    (``extra_image_features``, e.g. MCNN's "ela") of the run's selected models."""
    from benchmark.registry import MODELS
    return tuple(sorted({name for model in _selected_models(options)
                         for name in getattr(MODELS.get(model), "extra_image_features", ())}))


def data_fingerprint(dataset: str, splits: DatasetSplits, options: RunOptions, limit: int | None = None,
                     cache: dict | None = None) -> str:
    """The data key of a cell's identity: the loaded splits' fingerprint, or under cross-validation the
    pooled items' (one per dataset: a fold is then named by the split policy and the fold index)."""
    if not options.folds:
        return splits.fingerprint()
    return _loaded(dataset, options, limit, lambda message: None, cache).fingerprint()


def _fold(dataset: str, splits: DatasetSplits, options: RunOptions, fold: int | None, say: Say) -> DatasetSplits:
    """Fold ``fold`` of the dataset's K-fold plan (planned once per process and data)."""
    from benchmark.data.folds import fold_splits, plan_folds
    if fold is None:
        raise ValueError(f"{dataset}: --folds {options.folds} needs a fold index for each cell")
    key = (dataset, splits.fingerprint(), options.folds, options.fold_by)
    if key not in _FOLD_PLANS:
        _FOLD_PLANS[key] = plan = plan_folds(splits, int(options.folds), options.fold_by)
        say(f"[data]   {options.folds}-fold cross-validation by {plan.fold_by} over all {len(plan.items)} "
            f"labelled items ({len(set(plan.groups))} groups):")
        for line in plan.describe():
            say(f"[data]     {line}")
    return fold_splits(splits, _FOLD_PLANS[key], int(fold))


def featurise(dataset: str, splits: DatasetSplits, options: RunOptions, say: Say = _print):
    """Features of ``splits`` through the feature cache (each unique text and image encoded once)."""
    from benchmark.encoders.cache import FeatureCache
    from benchmark.encoders.featurize import build_feature_splits

    from benchmark.encoders.ela import EXTRA_IMAGE_ENCODERS

    from benchmark.encoders.precision import with_precision

    text_encoder, image_encoder = get_encoders(options, splits.language)
    extras = {name: EXTRA_IMAGE_ENCODERS[name]() for name in extra_image_features(options)}
    extra_texts, item_texts = {}, {}
    inputs = optional_inputs(options)
    if "clip" in inputs:
        from benchmark.encoders.clip import clip_pair
        clip_text, clip_image = clip_pair(str(options.clip_path))
        extra_texts["clip"] = with_precision(clip_text, options.precision)
        extras["clip"] = with_precision(clip_image, options.precision)
    if "entities" in inputs:
        from benchmark.data.entities import read_entity_file
        item_texts = read_entity_file(str(options.entity_file))
        ids = {item.item_id for _, item in splits.items()}
        linked = sum(item_id in ids for item_id in item_texts["entities"])
        say(f"[data]   entity file {options.entity_file}: entities for {linked} of {len(ids)} items "
            f"({len(item_texts['entities']) - linked} listed items not in this dataset)")
    features = build_feature_splits(splits, text_encoder, image_encoder, FeatureCache(Path(options.workdir) / "features"),
                                    extra_image_encoders=extras, extra_text_encoders=extra_texts, item_texts=item_texts)
    if features.dims.num_events == 0:
        features = with_kmeans_events(features)
        say(f"[data]   no event labels in {dataset}: K-Means++ (k={features.dims.num_events}) over pooled "
            "text+image features of the training split, as the NovEmoFake paper did for EANN")
    return features


def load_features(dataset: str, options: RunOptions, limit: int | None = None, say: Say = _print,
                  fold: int | None = None, cache: dict | None = None):
    """Load, cap, validate and featurise one dataset (or one fold of it) through the feature cache."""
    splits, _ = load_splits(dataset, options, limit, say, fold=fold, cache=cache)
    return splits, featurise(dataset, splits, options, say)


def with_kmeans_events(features, k: int = 10, seed: int = 0):
    """Event labels for datasets without them: K-Means++ fitted on training items only."""
    import torch

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
