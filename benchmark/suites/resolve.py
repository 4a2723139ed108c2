"""Resolving a suite against a run's options: which rows, which dataset slots (real, synthetic or not
available), and the checks that can fail before the store is touched.

Torch-free at import (the registry's model classes are imported only when a row's config is
resolved), so reports can ask a suite for its rows and their config fingerprints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from benchmark.data.schema import DataError
from benchmark.data.spec import DatasetSpec
from benchmark.registry import DATASETS, MODELS, UnknownNameError, unknown_name_message
from benchmark.suites import DatasetSlot, Suite, SuiteRow
from benchmark.tracking import fingerprint

SYNTHETIC_BANNER = ("*** SYNTHETIC DATA: no real dataset was found under the data root; every number "
                    "below comes from the embedded synthetic set and says nothing about the papers. ***")


@dataclass
class SlotResolution:
    slot: DatasetSlot
    dataset: str | None  # registered dataset name, None when not available
    source: str  # "real" | "synthetic" | "not available"
    reason: str = ""

    @property
    def status(self) -> str:
        return f"{self.source}:{self.dataset}" if self.dataset else f"not available: {self.reason}"


def suite_rows(suite: Suite) -> list[SuiteRow]:
    """The suite's rows; the smoke suite (``all_models``) has one per registered model."""
    if suite.all_models:
        return [SuiteRow(label=name, model=name) for name in MODELS.names()]
    return list(suite.rows)



def suite_config_fingerprint(row: SuiteRow) -> str:
    """Fingerprint of the row's config as the suite defines it (no CLI overrides): reports use it to
    leave out cells stored under an older default configuration."""
    from benchmark.variants import resolve_config
    return fingerprint(dataclasses.asdict(resolve_config(row.model, row.variant, row.overrides)))


def _real_specs() -> list[DatasetSpec]:
    return [DATASETS.get(n) for n in DATASETS.names() if DATASETS.get(n).kind == "real"]


def resolve_slots(slots, data_root: Path | None) -> list[SlotResolution]:
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
    from benchmark.variants import resolve_config
    where = suite.source or f"suite {suite.name}"
    for row in rows:
        try:
            resolve_config(row.model, row.variant, row.overrides)
        except UnknownNameError as exc:
            raise UnknownNameError(f"{where}: row {row.label!r}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise UnknownNameError(f"{where}: row {row.label!r}: {exc}") from None


def validate_run(suite: Suite, options) -> None:
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
