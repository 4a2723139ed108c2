"""The one schema every dataset adapter produces: NewsItem, DatasetSplits and Problem.

Keeping a single schema means encoders, models and reports never care where a dataset came from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

FAKE, REAL = 1, 0
Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class NewsItem:
    """One post. label: 1 = fake, 0 = real. Background-knowledge datasets also fill the source side."""

    item_id: str
    text: str
    image_paths: tuple[Path, ...]
    label: int
    event: str | None = None
    language: str | None = None
    source_text: str | None = None
    source_image_paths: tuple[Path, ...] = ()
    origin: str | None = None  # origin dataset for merged corpora (NovEmoFake parts)
    emotion: int | None = None  # 0 = joy/love/sadness group, 1 = fear/surprise/anger group (images)
    publisher: str | None = None  # outlet, where a dataset has one (ReCOVery); a grouping/cluster key

    @property
    def image_path(self) -> Path | None:
        """The image used by single-image models: the first listed (papers used one image per post)."""
        return self.image_paths[0] if self.image_paths else None

    @property
    def source_image_path(self) -> Path | None:
        return self.source_image_paths[0] if self.source_image_paths else None

    @property
    def has_source(self) -> bool:
        return self.source_text is not None or bool(self.source_image_paths)


@dataclass(frozen=True)
class Problem:
    """A bad row or file, reported as ``file:line: reason`` instead of crashing or silently dropping."""

    file: str
    line: int | None
    reason: str
    severity: Severity = "error"
    item_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.severity}: {self.reason}"


SPLITS = ("train", "validation", "test")

# what a DatasetSplits.split_policy value is called in a table header, where its name alone says too little
SPLIT_TITLES = {"paper": "paper: the COOLANT paper's split, MediaEval 2015's events"}


def split_title(policy: str) -> str:
    """A split policy as a table header names it (``paper`` says whose split it is)."""
    return SPLIT_TITLES.get(policy, policy)


@dataclass
class FileIntake:
    """How many posts one data file held before any policy, and what the missing-image policy did.

    Why: ``bench data check`` must show what was read before counts per split hide the dropped posts.
    """

    file: str
    posts: int = 0  # records read (before labels, duplicates and images are checked)
    dropped: int = 0  # dropped for a missing image (--on-missing-image drop)
    blanked: int = 0  # kept without an image (--on-missing-image blank)


@dataclass
class DatasetSplits:
    """Train / validation / test NewsItems of one dataset plus everything found wrong while reading."""

    name: str
    train: list[NewsItem]
    validation: list[NewsItem]
    test: list[NewsItem]
    source: Literal["real", "synthetic"] = "real"
    root: Path | None = None
    problems: list[Problem] = field(default_factory=list)
    language: str = "en"
    notes: list[str] = field(default_factory=list)  # how splits were made, policies applied
    cluster_unit: str = "image"  # how test items cluster for statistics (benchmark.data.clusters)
    intake: list[FileIntake] = field(default_factory=list)  # per data file, before any policy
    split_policy: str = "published"  # how the splits were made: "published" or a benchmark.data.splits policy

    def split(self, name: str) -> list[NewsItem]:
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def items(self) -> Iterable[tuple[str, NewsItem]]:
        for split_name in SPLITS:
            for item in self.split(split_name):
                yield split_name, item

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def has_source(self) -> bool:
        return any(item.has_source for _, item in self.items())

    def fingerprint(self) -> str:
        """Content hash of ids, labels, texts, events and image paths per split (MLflow tag)."""
        digest = hashlib.sha256()
        for split_name, item in self.items():
            record = [split_name, item.item_id, item.label, item.text, item.event,
                      [p.name for p in item.image_paths], item.source_text,
                      [p.name for p in item.source_image_paths]]
            digest.update(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        return digest.hexdigest()[:16]

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for split_name in SPLITS:
            items = self.split(split_name)
            out[split_name] = {"total": len(items), "fake": sum(i.label == FAKE for i in items),
                               "real": sum(i.label == REAL for i in items)}
        return out


class DataError(ValueError):
    """A dataset cannot be used as given; the message names the file/line/item and the fix."""
