"""Suites are data files (``*.yaml`` beside this module): rows (model + variant), dataset slots, seeds,
metrics, the paper's reference values and significance pairs. This module parses and registers them.

A dataset slot names the real datasets that can fill it (first one found under the data root wins)
and the synthetic stand-in used when no real data is present at all.

Extra suite files are read from the folders in ``$BENCH_SUITES`` (``:``-separated), from plugins
(``register_suite_folder``) and from a path given to ``bench run --suite path/to/suite.yaml``. A file that does
not parse is recorded in ``SUITE_ERRORS`` and skipped, so one bad file cannot break every command;
``bench list`` shows it and ``bench run --suite <its name>`` prints its error.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.registry import SUITES

log = logging.getLogger(__name__)
SUITE_DIR = Path(__file__).parent
SUITE_ERRORS: dict[str, str] = {}  # file stem -> why that suite file could not be loaded
KINDS = ("metrics", "differences", "mcnemar", "tsne", "sweep")


@dataclass(frozen=True)
class SuiteRow:
    label: str
    model: str
    variant: str = "default"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSlot:
    id: str  # how the paper's table names it, e.g. "twitter"
    label: str
    real: tuple[str, ...]  # registered real datasets able to fill it, in order of preference
    synthetic: str  # registered synthetic stand-in


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    paper: str
    kind: str
    rows: tuple[SuiteRow, ...]
    datasets: tuple[DatasetSlot, ...]
    metrics: tuple[str, ...]
    seeds: int = 3
    reference: str | None = None  # reference table key (reports.reference)
    reference_row: str | None = None
    # the reference of the paired tests on slots where reference_row cannot run (declared before any result)
    fallback_reference_row: str | None = None
    pairs: tuple[tuple[str, str], ...] = ()  # significance pairs (row labels)
    claims: bool = False  # show the paper's stated differences (NovEmoFake)
    reuses: tuple[str, ...] = ()  # suites whose finished cells may be reused
    store_representation: bool = False
    all_models: bool = False  # smoke: one row per registered model
    max_epochs: int | None = None
    limit: int | None = None
    study: dict[str, Any] = field(default_factory=dict)  # sweep suites
    folds: int | None = None  # evaluation design: K-fold cross-validation over every labelled item
    fold_by: str | None = None  # its groups: event | publisher | grouped | image (None: the dataset's default)
    equivalence_margin: float = 2.0  # points: "matches the paper" needs a TOST within ± this (reports.stats)
    description: str = ""
    source: Path | None = None

    def row(self, label: str) -> SuiteRow:
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(f"suite {self.name} has no row {label!r}; rows: {[r.label for r in self.rows]}")


def parse_suite(data: dict[str, Any], source: Path | None = None) -> Suite:
    where = source or "<suite>"
    try:
        kind = data.get("kind", "metrics")
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {KINDS}")
        rows = tuple(SuiteRow(label=r["label"], model=r["model"], variant=r.get("variant", "default"),
                              overrides=dict(r.get("overrides") or {})) for r in data.get("rows") or [])
        slots = tuple(DatasetSlot(id=d["id"], label=d.get("label", d["id"]), real=tuple(d.get("real") or ()),
                                  synthetic=d["synthetic"]) for d in data["datasets"])
        labels = [r.label for r in rows]
        if len(set(labels)) != len(labels):
            raise ValueError(f"duplicate row labels {labels}")
        pairs = tuple(tuple(p) for p in data.get("pairs") or ())
        for a, b in pairs:
            if a not in labels or b not in labels:
                raise ValueError(f"pair ({a!r}, {b!r}) names a row that is not in rows {labels}")
        fallback = data.get("fallback_reference_row")
        if fallback is not None and fallback not in labels:
            raise ValueError(f"fallback_reference_row {fallback!r} is not in rows {labels}")
        return Suite(name=data["name"], title=data["title"], paper=data.get("paper", ""), kind=kind, rows=rows,
                     datasets=slots, metrics=tuple(data.get("metrics") or ("accuracy",)),
                     seeds=int(data.get("seeds", 3)), reference=data.get("reference"),
                     reference_row=data.get("reference_row"), fallback_reference_row=fallback, pairs=pairs, claims=bool(data.get("claims", False)),
                     reuses=tuple(data.get("reuses") or ()),
                     store_representation=bool(data.get("store_representation", False)),
                     all_models=bool(data.get("all_models", False)), max_epochs=data.get("max_epochs"),
                     limit=data.get("limit"), study=dict(data.get("study") or {}),
                     folds=int(data["folds"]) if data.get("folds") else None, fold_by=data.get("fold_by"),
                     equivalence_margin=_margin(data.get("equivalence_margin", 2.0)),
                     description=data.get("description", ""), source=source)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{where}: invalid suite spec: {exc!s}. See benchmark/suites/table2.yaml for the format."
                         ) from exc


def _margin(value: Any) -> float:
    """The equivalence margin in percentage points: a number > 0 (a fraction like 0.02 would be read as points)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
        raise ValueError(f"equivalence_margin must be a number of percentage points in (0, 100], e.g. 2.0; "
                         f"got {value!r}")
    return float(value)


def load_suite_file(path: Path) -> Suite:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: invalid suite spec: expected a mapping of keys (name, title, rows, datasets, "
                         f"...), got {type(data).__name__}. See benchmark/suites/table2.yaml for the format.")
    return parse_suite(data, source=path)


def register_suite_path(path: Path) -> Suite:
    """Load and register one suite file from anywhere (``bench run --suite path/to/suite.yaml``).

    Loading the same file again is a no-op; a file whose suite name is already taken by another
    definition is refused (two different tables under one experiment name would mix their cells).
    """
    path = Path(path)
    if not path.is_file():
        raise OSError(f"no such file (give a path to a suite .yaml, or a registered suite name)")
    suite = load_suite_file(path.resolve())
    if suite.name in SUITES:
        existing = SUITES.get(suite.name)
        if existing != suite:
            where = existing.source or "a plugin"
            raise ValueError(f"defines suite {suite.name!r}, which {where} already defines; give the file's "
                             "suite another `name:`")
        return existing
    SUITES.register(suite.name, suite)
    return suite


def register_suite_folder(folder: Path) -> list[str]:
    """Register every ``*.yaml`` suite in ``folder``; returns the names registered. Files that fail are
    recorded in ``SUITE_ERRORS`` (with the reason) instead of raising."""
    names = []
    for path in sorted(Path(folder).glob("*.yaml")):
        try:
            suite = load_suite_file(path)
            SUITES.register(suite.name, suite)
        except (OSError, ValueError) as exc:
            SUITE_ERRORS[path.stem] = str(exc)
            log.warning("suite file skipped: %s", exc)
            continue
        SUITE_ERRORS.pop(path.stem, None)
        names.append(suite.name)
    return names


register_suite_folder(SUITE_DIR)
for _folder in filter(None, os.environ.get("BENCH_SUITES", "").split(os.pathsep)):
    register_suite_folder(Path(_folder))
