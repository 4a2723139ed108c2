"""How a dataset is declared to the registry: where it lives under the data root and how it loads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from benchmark.data.schema import DatasetSplits

MissingImagePolicy = Literal["drop", "blank", "error"]
DEFAULT_SPLIT = "paper"  # --split's default: the split each paper used (benchmark.data.splits)
SplitChoice = Literal["paper", "published", "random", "grouped", "publisher", "event"]  # splits.SPLIT_CHOICES


@dataclass(frozen=True)
class LoadOptions:
    """Options every adapter accepts. Recorded as MLflow tags so a table says how data was read."""

    seed: int = 0
    on_missing_image: MissingImagePolicy = "drop"
    keep_humor: bool = False  # MediaEval 2015: keep 'humor' tweets as fake instead of dropping them
    validation_fraction: float = 0.1
    workdir: Path = Path("bench-runs")  # synthetic sets write their images under <workdir>/synthetic
    split: SplitChoice = DEFAULT_SPLIT  # which split (benchmark.data.splits: paper, published, or a grouping policy)


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset. ``folder`` is relative to the data root (None for synthetic sets)."""

    name: str
    loader: Callable[[Path | None, LoadOptions], DatasetSplits]
    folder: str | None
    description: str
    language: str = "en"
    kind: Literal["real", "synthetic"] = "real"
    has_events: bool = False
    has_source: bool = False
    licence: str = ""
    published_at: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    # A dataset that is one --split choice rebuilt from another release's folder (the paper's Twitter
    # split inside the 2016 release): a suite slot passes it over under any other --split choice.
    split_choice: str | None = None

    def available(self, data_root: Path | None) -> bool:
        if self.kind == "synthetic":
            return True
        return data_root is not None and (Path(data_root) / (self.folder or self.name)).is_dir()

    def load(self, data_root: Path | None, options: LoadOptions) -> DatasetSplits:
        root = None if self.kind == "synthetic" else Path(data_root) / (self.folder or self.name)
        return self.loader(root, options)
