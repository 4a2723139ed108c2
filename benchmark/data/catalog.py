"""Registers every dataset adapter in :data:`benchmark.registry.DATASETS`.

Each adapter module declares ``DATASET_SPECS: tuple[DatasetSpec, ...]`` and has no registry side
effects of its own; this module imports the modules listed in :data:`ADAPTER_MODULES` and registers
their specs. Adding a corpus is one line: append its module to :data:`ADAPTER_MODULES`.
Registration is idempotent (re-importing or calling :func:`register_all` again is harmless), and two
modules declaring the same dataset name is an error naming both.
"""

from __future__ import annotations

import importlib
import logging

from benchmark.data.spec import DatasetSpec
from benchmark.registry import DATASETS

log = logging.getLogger(__name__)

ADAPTER_MODULES: tuple[str, ...] = (
    "benchmark.data.synthetic",
    "benchmark.data.mediaeval",
    "benchmark.data.mediaeval_paper",
    "benchmark.data.weibo",
    "benchmark.data.novemofake",
    "benchmark.data.synthetic_pairs",
    # other corpora: one line each, e.g. "benchmark.data.weibo", "benchmark.data.novemofake", ...
)

_OWNERS: dict[str, str] = {}


def register_specs(specs: tuple[DatasetSpec, ...] | list[DatasetSpec], owner: str) -> None:
    """Register ``specs`` declared by module ``owner`` (idempotent for the same owner)."""
    for spec in specs:
        if not isinstance(spec, DatasetSpec):
            raise TypeError(f"{owner}.DATASET_SPECS holds {spec!r}, not a DatasetSpec")
        previous = _OWNERS.get(spec.name)
        if previous == owner and spec.name in DATASETS:
            continue
        if previous is not None and previous != owner:
            raise ValueError(f"dataset {spec.name!r} is declared by both {previous} and {owner}; rename one")
        if previous is None and spec.name in DATASETS:  # this module was reloaded: same declaration?
            existing = DATASETS.get(spec.name)
            if isinstance(existing, DatasetSpec) and (existing.folder, existing.kind) == (spec.folder, spec.kind):
                _OWNERS[spec.name] = owner
                continue
            raise ValueError(f"dataset {spec.name!r} from {owner} is already registered elsewhere as {existing!r}")
        DATASETS.register(spec.name, spec)
        _OWNERS[spec.name] = owner


def register_all() -> list[str]:
    """Import every adapter module and register its specs; returns the registered dataset names."""
    for module_name in ADAPTER_MODULES:
        module = importlib.import_module(module_name)
        specs = getattr(module, "DATASET_SPECS", None)
        if specs is None:
            raise AttributeError(f"{module_name} is listed in benchmark.data.catalog.ADAPTER_MODULES but "
                                 f"defines no DATASET_SPECS tuple")
        register_specs(tuple(specs), module_name)
    return sorted(_OWNERS)


register_all()
