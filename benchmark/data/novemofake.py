"""NovEmoFake (Kumari et al. 2023) and its three target-side parts: Fauxtography, ReCOVery, TI-CNN.

NovEmoFake pairs each *target* post (text + image, from one of the three parts) with up to four
*source* news items found by reverse image search on credible sites (background knowledge). The
authors did not publish a file format, so this suite defines an open one (docs/datasets.md):

``<data_root>/novemofake/novemofake.jsonl`` — one JSON object per line::

    {"id": "fx-17", "target_text": "...", "target_image": "images/fx-17.jpg",
     "sources": [{"text": "...", "image": "images/fx-17-s0.jpg", "url": "https://...",
                  "credibility": "high", "relevant": "yes"}],
     "label": "fake", "origin": "fauxtography", "split": "train"}

or the equivalent ``novemofake.csv`` (columns ``id, target_text, target_image, label, origin,
split`` and ``source1_text, source1_image, source1_url, source1_credibility, source1_relevant`` up
to ``source4_*``; several images of one source separated by ``|``). ``split`` and ``relevant`` are
optional. Image fields are paths relative to the folder; a URL is looked up as
``images/<last URL part>``.

From the sources of a target, one is kept as ``NewsItem.source_text`` / ``source_image_paths``:

1. sources from sites rated mixed / low / very low credibility are skipped (section 3.1 keeps very
   high, high and (mostly/primarily) factual only);
2. relevance (section 3.2): the ``relevant`` yes/no field where the file gives it, else the
   R_value rule of :mod:`benchmark.data.relevance` (offline entity rule, max R_value is "yes");
3. of the relevant sources the first one is used at load time. The paper picks, by cosine
   similarity of CNN features, the source *image* most similar to the target image
   (:func:`benchmark.data.relevance.select_source` does this once features exist); a loader runs
   before any encoder, so it cannot. Where no source is relevant the first credible one is used and
   the count is reported.

The three parts are also loadable alone, each from its own published layout (``recovery``,
``ticnn``) or a documented CSV (``fauxtography``: its public release is a list of claim URLs and
image URLs, not files). Each part takes background knowledge from a ``sources.jsonl`` beside its
data file (``{"id": ..., "sources": [...]}`` per line), when present.

Splits: the ``split`` field when every record has one; otherwise 80:20 train/test and then
train 90:10 train/validation (``LoadOptions.validation_fraction``) under ``LoadOptions.split``
(:mod:`benchmark.data.splits`: ``random`` = stratified by label and seeded with
``LoadOptions.seed``; ``grouped`` / ``publisher`` / ``event`` keep groups on one side). The paper's reference code split with ``random_state=43``; pass
``--seed 43`` to use that seed (the item order differs from scikit-learn's, so the exact partition
is not the reference code's).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from benchmark.data.images import IMAGE_SUFFIXES, index_images
from benchmark.data.relevance import relevance_labels, select_source
from benchmark.data.sampling import stratified_split
from benchmark.data.splits import grouping_policy, make_splits
from benchmark.data.schema import FAKE, REAL, DataError, DatasetSplits, FileIntake, NewsItem, Problem
from benchmark.data.spec import DatasetSpec, LoadOptions
from benchmark.data.textio import read_lines, read_table

log = logging.getLogger(__name__)

__all__ = [
    "TARGET_ORIGINS", "MAX_SOURCES", "REJECTED_CREDIBILITY", "SourceNews", "RawRecord",
    "parse_label", "read_json_records", "read_novemofake_file", "read_sources_file",
    "build_splits", "load_novemofake", "load_fauxtography", "load_recovery", "load_ticnn",
    "NOVEMOFAKE_SPEC", "FAUXTOGRAPHY_SPEC", "RECOVERY_SPEC", "TICNN_SPEC",
]

TARGET_ORIGINS = ("fauxtography", "recovery", "ticnn")
MAX_SOURCES = 4
REJECTED_CREDIBILITY = frozenset({"mixed", "low", "very low", "very-low", "verylow"})
TEST_FRACTION = 0.2
_FAKE_WORDS = {"fake", "1", "false", "rumor", "rumour", "unreliable"}
_REAL_WORDS = {"real", "0", "true", "nonrumor", "non-rumor", "reliable"}
_SPLIT_NAMES = {"train": "train", "training": "train", "validation": "validation", "val": "validation",
                "valid": "validation", "dev": "validation", "test": "test", "testing": "test"}
_YES = {"yes", "y", "true", "1", "relevant"}
_NO = {"no", "n", "false", "0", "irrelevant", "not relevant"}


@dataclass(frozen=True)
class SourceNews:
    """One background source of a target: text, its image reference(s), where it came from."""

    text: str
    images: tuple[str, ...] = ()
    url: str = ""
    credibility: str = ""
    relevant: bool | None = None  # the file's yes/no annotation, None when not given


@dataclass
class RawRecord:
    """One target as read from a file, before labels, images and splits are checked."""

    item_id: str
    text: str
    image_refs: tuple[str, ...]
    label: Any
    origin: str | None
    file: str
    line: int | None
    split: str | None = None
    sources: list[SourceNews] | None = None
    label_field: str = "label"  # how the label is named in the file, for messages
    label_expected: str = "fake/real or 1/0"
    publisher: str | None = None  # outlet (ReCOVery), a split group and cluster key


def parse_label(value: Any) -> int | None:
    """1 (fake) / 0 (real) from ``fake``/``real``, ``1``/``0``, ``false``/``true`` (claim veracity).

    Numbers and numeric strings: 1 = fake, 0 = real. None for anything else.
    """
    if isinstance(value, bool):
        return REAL if value else FAKE  # a claim marked true is real news
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if re.fullmatch(r"[01](\.0+)?", word):
            return int(float(word))
        if word in _FAKE_WORDS:
            return FAKE
        if word in _REAL_WORDS:
            return REAL
    return None


def _parse_relevant(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _image_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(part.strip() for part in str(value).split("|") if part.strip())


def parse_sources(value: Any, file: str, line: int | None, item_id: str,
                  problems: list[Problem]) -> list[SourceNews]:
    """The ``sources`` list of a record; malformed entries are reported and skipped."""
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        problems.append(Problem(file, line, f"{item_id}: 'sources' must be a list of objects, got "
                                f"{type(value).__name__}; sources ignored", severity="warning",
                                item_id=item_id))
        return []
    sources: list[SourceNews] = []
    for k, entry in enumerate(value):
        if not isinstance(entry, dict):
            problems.append(Problem(file, line, f"{item_id}: source {k} is not an object; skipped",
                                    severity="warning", item_id=item_id))
            continue
        relevant = _parse_relevant(entry.get("relevant"))
        if entry.get("relevant") not in (None, "") and relevant is None:
            problems.append(Problem(file, line, f"{item_id}: source {k} has relevant="
                                    f"{entry.get('relevant')!r}, expected yes/no; treated as not given",
                                    severity="warning", item_id=item_id))
        sources.append(SourceNews(text=_text(entry.get("text")),
                                  images=_image_list(entry.get("image", entry.get("images"))),
                                  url=_text(entry.get("url")), credibility=_text(entry.get("credibility")),
                                  relevant=relevant))
    if len(sources) > MAX_SOURCES:
        problems.append(Problem(file, line, f"{item_id}: {len(sources)} sources, at most {MAX_SOURCES} "
                                "are used (section 3.1); the rest ignored", severity="warning",
                                item_id=item_id))
        sources = sources[:MAX_SOURCES]
    return sources


# --------------------------------------------------------------------------------------- reading

def read_json_records(path: Path, problems: list[Problem]) -> list[tuple[int, Any]]:
    """``(line, object)`` pairs of a JSON-lines file or a JSON array file (line of each element).

    A JSON-lines line that does not parse is reported (``file:line``) and skipped. In an array file
    an element that does not parse ends the reading there (the rest cannot be located reliably).
    """
    lines = read_lines(path, problems)
    text = "\n".join(line for _, line in lines)
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{path}: file is empty; expected JSON records")
    records: list[tuple[int, Any]] = []
    if not stripped.startswith("["):
        for number, line in lines:
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                problems.append(Problem(str(path), number, f"not valid JSON ({exc.msg} at column "
                                        f"{exc.colno}); record skipped"))
        return records
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text):
            problems.append(Problem(str(path), text.count("\n", 0, position) + 1,
                                    "JSON array not closed with ']' (truncated file?)"))
            break
        if text[position] == "]":
            break
        number = text.count("\n", 0, position) + 1
        try:
            obj, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), number, f"not valid JSON ({exc.msg}); this and the "
                                    f"remaining records of the array skipped"))
            break
        records.append((number, obj))
    return records


def _record_from_object(obj: Any, file: str, line: int, problems: list[Problem]) -> RawRecord | None:
    if not isinstance(obj, dict):
        problems.append(Problem(file, line, f"expected a JSON object, got {type(obj).__name__}; skipped"))
        return None
    item_id = _text(obj.get("id"))
    return RawRecord(
        item_id=item_id, text=_text(obj.get("target_text")),
        image_refs=_image_list(obj.get("target_image")), label=obj.get("label"),
        origin=_text(obj.get("origin")).lower() or None, file=file, line=line,
        split=_text(obj.get("split")) or None,
        sources=parse_sources(obj.get("sources"), file, line, item_id or f"line {line}", problems))


_CSV_COLUMNS = {"id": ("item_id", "post_id"), "target_text": ("text",), "target_image": ("image",),
                "label": (), "origin": (), "split": ()}


def read_novemofake_file(path: Path, problems: list[Problem]) -> list[RawRecord]:
    """Records of a ``novemofake.jsonl`` or ``novemofake.csv`` file (see the module docstring)."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        records = [_record_from_object(obj, str(path), line, problems)
                   for line, obj in read_json_records(path, problems)]
        return [r for r in records if r is not None]
    table = read_table(path, problems, delimiter=",", quoted=True)
    aliases: dict[str, tuple[str, ...]] = dict(_CSV_COLUMNS)
    for k in range(1, MAX_SOURCES + 1):
        for part in ("text", "image", "url", "credibility", "relevant"):
            aliases[f"source{k}_{part}"] = (f"source_{k}_{part}",)
    columns = table.columns(aliases, required=("id", "target_text", "target_image", "label"))
    out: list[RawRecord] = []
    for row in table.rows:
        def get(name: str) -> str:
            return row.values[columns[name]].strip() if name in columns else ""
        item_id = get("id")
        raw_sources = []
        for k in range(1, MAX_SOURCES + 1):
            entry = {part: get(f"source{k}_{part}") for part in ("text", "image", "url", "credibility", "relevant")}
            if entry["text"] or entry["image"]:
                raw_sources.append(entry)
        out.append(RawRecord(item_id=item_id, text=get("target_text"), image_refs=_image_list(get("target_image")),
                             label=get("label"), origin=get("origin").lower() or None, file=str(path),
                             line=row.line, split=get("split") or None,
                             sources=parse_sources(raw_sources, str(path), row.line, item_id, problems)))
    return out


def read_sources_file(path: Path, problems: list[Problem]) -> dict[str, list[SourceNews]]:
    """``sources.jsonl``: ``{"id": ..., "sources": [...]}`` per line -> sources by target id."""
    by_id: dict[str, list[SourceNews]] = {}
    for line, obj in read_json_records(path, problems):
        if not isinstance(obj, dict) or not _text(obj.get("id")):
            problems.append(Problem(str(path), line, "expected an object with an 'id' and 'sources'; skipped",
                                    severity="warning"))
            continue
        item_id = _text(obj["id"])
        if item_id in by_id:
            problems.append(Problem(str(path), line, f"{item_id}: sources given twice; later line ignored",
                                    severity="warning", item_id=item_id))
            continue
        by_id[item_id] = parse_sources(obj.get("sources"), str(path), line, item_id, problems)
    return by_id


# --------------------------------------------------------------------------------------- building

class _ImageResolver:
    """Resolves image references (relative paths or URLs) inside one dataset folder.

    A reference that leaves the folder (``../x.jpg``, ``/etc/...``) is refused and reported as a
    Problem: a dataset file must not make the loader read (and hash, and encode) files elsewhere.
    """

    def __init__(self, root: Path, problems: list[Problem] | None = None) -> None:
        self.root = root
        self.images_dir = root / "images"
        self.problems = problems if problems is not None else []
        self._stems: dict[str, Path] | None = None

    def inside(self, ref: str) -> bool:
        """Whether ``ref`` names a path inside the dataset folder (lexically: symlinked folders still work)."""
        if Path(ref).is_absolute():
            return False
        root = os.path.normpath(self.root)
        return os.path.normpath(os.path.join(root, ref)).startswith(root + os.sep)

    def _by_stem(self) -> dict[str, Path]:
        if self._stems is None:
            self._stems = index_images(self.images_dir)
        return self._stems

    def resolve(self, ref: str, fallback_stem: str | None = None, record: RawRecord | None = None) -> Path | None:
        if not ref and fallback_stem is None:
            return None
        candidates: list[Path] = []
        if ref and "://" not in ref and not self.inside(ref):
            self.problems.append(Problem(
                record.file if record else str(self.root), record.line if record else None,
                f"{record.item_id + ': ' if record else ''}image reference {ref!r} points outside the dataset "
                f"folder {self.root}; refused (give a path relative to the dataset folder)",
                item_id=record.item_id if record else None))
            return None
        if ref:
            if "://" in ref:
                name = ref.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
                if name:
                    candidates.append(self.images_dir / name)
            else:
                candidates += [self.root / ref, self.images_dir / Path(ref).name]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        stems = []
        for candidate in candidates:
            stems.append(candidate.stem if candidate.suffix.lower() in IMAGE_SUFFIXES else candidate.name)
        if fallback_stem:
            stems.append(fallback_stem)
        for stem in stems:
            if stem in self._by_stem():
                return self._by_stem()[stem]
        return None


@dataclass
class _BuildState:
    problems: list[Problem]
    no_relevant: list[str] = field(default_factory=list)
    no_sources: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)


def _choose_source(record: RawRecord, resolver: _ImageResolver, state: _BuildState
                   ) -> tuple[str | None, tuple[Path, ...]]:
    sources = record.sources or []
    credible = [s for s in sources if s.credibility.strip().lower() not in REJECTED_CREDIBILITY]
    if len(credible) < len(sources):
        state.problems.append(Problem(record.file, record.line, f"{record.item_id}: "
                                      f"{len(sources) - len(credible)} source(s) from sites rated mixed/low "
                                      "credibility skipped (section 3.1)", severity="warning",
                                      item_id=record.item_id))
    if not credible:
        if sources:
            state.no_sources.append(record.item_id)
        return None, ()
    if any(s.relevant is not None for s in credible):
        flags = [bool(s.relevant) for s in credible]
    else:
        flags = relevance_labels(record.text, [s.text for s in credible])
    index = select_source(flags)
    if index is None:
        state.no_relevant.append(record.item_id)
        index = 0
    chosen = credible[index]
    paths = tuple(p for p in (resolver.resolve(ref, record=record) for ref in chosen.images) if p is not None)
    if chosen.images and not paths:
        state.problems.append(Problem(record.file, record.line, f"{record.item_id}: source image(s) "
                                      f"{', '.join(chosen.images)} not found; source kept text-only",
                                      severity="warning", item_id=record.item_id))
    return (chosen.text or None), paths[:1]


def _summarise(ids: list[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")


def build_splits(name: str, root: Path, records: Iterable[RawRecord], options: LoadOptions,
                 problems: list[Problem], data_file: Path, default_origin: str | None = None,
                 extra_notes: Iterable[str] = ()) -> DatasetSplits:
    """Check labels, ids, texts and images of ``records`` and split them (see the module docstring)."""
    state = _BuildState(problems)
    resolver = _ImageResolver(root, problems)
    kept: list[tuple[NewsItem, str | None]] = []
    seen: dict[str, RawRecord] = {}
    intake = FileIntake(str(data_file))
    for record in records:
        intake.posts += 1
        where = f"{record.file}:{record.line}" if record.line is not None else record.file
        if not record.item_id:
            problems.append(Problem(record.file, record.line, "record has no id; skipped (give every "
                                    "record a unique 'id')"))
            continue
        label = parse_label(record.label)
        if label is None:
            problems.append(Problem(record.file, record.line, f"{record.item_id}: unknown "
                                    f"{record.label_field} {record.label!r}; expected "
                                    f"{record.label_expected}; record skipped",
                                    item_id=record.item_id))
            continue
        if record.item_id in seen:
            first = seen[record.item_id]
            problems.append(Problem(record.file, record.line, f"duplicate id {record.item_id} (first at "
                                    f"line {first.line}); later record skipped", item_id=record.item_id))
            continue
        seen[record.item_id] = record
        split = None
        if record.split is not None:
            split = _SPLIT_NAMES.get(record.split.strip().lower())
            if split is None:
                problems.append(Problem(record.file, record.line, f"{record.item_id}: unknown split "
                                        f"{record.split!r}; expected train/validation/test; record skipped",
                                        item_id=record.item_id))
                continue
        origin = record.origin or default_origin
        if origin is not None and origin not in TARGET_ORIGINS:
            problems.append(Problem(record.file, record.line, f"{record.item_id}: unknown origin {origin!r} "
                                    f"(expected one of {', '.join(TARGET_ORIGINS)}); kept",
                                    severity="warning", item_id=record.item_id))
        if not record.text:
            problems.append(Problem(record.file, record.line, f"{record.item_id}: empty target text; kept "
                                    "as an image-only post", severity="warning", item_id=record.item_id))
        images = tuple(p for p in (resolver.resolve(ref, record=record) for ref in record.image_refs)
                       if p is not None)
        if not images and not record.image_refs:
            fallback = resolver.resolve("", fallback_stem=record.item_id)
            images = (fallback,) if fallback else ()
        if not images:
            reason = (f"{record.item_id}: image {', '.join(record.image_refs)} not found under {root}"
                      if record.image_refs else f"{record.item_id}: no image given")
            if options.on_missing_image == "error":
                state.missing_images.append(f"{where}: {reason}")
                continue
            if options.on_missing_image == "drop":
                intake.dropped += 1
                problems.append(Problem(record.file, record.line, f"{reason}; record dropped "
                                        "(on_missing_image=drop)", severity="warning", item_id=record.item_id))
                continue
            intake.blanked += 1
            problems.append(Problem(record.file, record.line, f"{reason}; kept without an image "
                                    "(on_missing_image=blank)", severity="warning", item_id=record.item_id))
        source_text, source_images = _choose_source(record, resolver, state)
        item = NewsItem(item_id=record.item_id, text=record.text, image_paths=images[:1] if images else (),
                        label=label, language="en", source_text=source_text,
                        source_image_paths=source_images, origin=origin, publisher=record.publisher)
        kept.append((item, split))
    if state.missing_images:
        shown = "\n  ".join(state.missing_images[:20])
        more = f"\n  ... and {len(state.missing_images) - 20} more" if len(state.missing_images) > 20 else ""
        raise DataError(f"{data_file}: {len(state.missing_images)} record(s) have no image file "
                        f"(on_missing_image=error):\n  {shown}{more}\nFix: add the images under {root}, or "
                        "load with --on-missing-image drop (skip them) or blank (keep them text-only)")
    if state.no_relevant:
        problems.append(Problem(str(data_file), None, f"{len(state.no_relevant)} target(s) share no entity "
                                f"with any source (R_value 0); their first credible source is used: "
                                f"{_summarise(state.no_relevant)}", severity="warning"))
    if state.no_sources:
        problems.append(Problem(str(data_file), None, f"{len(state.no_sources)} target(s) have only "
                                f"low-credibility sources and are kept without background: "
                                f"{_summarise(state.no_sources)}", severity="warning"))
    notes = list(extra_notes)
    split_policy = "published"
    with_split = [item for item, split in kept if split is not None]
    if with_split and len(with_split) != len(kept):
        raise DataError(f"{data_file}: the 'split' field is given on {len(with_split)} of {len(kept)} records; "
                        "give it on every record or on none (then an 80:20 / 90:10 seeded split is made)")
    if with_split:
        parts = {s: [item for item, split in kept if split == s] for s in ("train", "validation", "test")}
        notes.append("splits as given by the 'split' field")
        if not parts["validation"]:
            parts["train"], parts["validation"] = stratified_split(
                parts["train"], options.validation_fraction, options.seed)
            notes.append(f"no validation records: validation carved from train (stratified, fraction "
                         f"{options.validation_fraction}, seed {options.seed})")
        train, validation, test = parts["train"], parts["validation"], parts["test"]
        if grouping_policy(options.split, name, published=True) != "random":
            notes.append(f"--split {options.split} not applied: the file gives every record's split")
    else:
        policy = grouping_policy(options.split, name, published=False)
        result = make_splits([item for item, _ in kept], policy, TEST_FRACTION,
                             options.validation_fraction, options.seed, dataset=name)
        train, validation, test = result.train, result.validation, result.test
        split_policy = policy
        notes += result.notes
        if policy == "random":
            notes.append("the paper's reference code used random_state=43 (--seed 43)")
    notes.append(f"records without an image file: on_missing_image={options.on_missing_image}")
    log.info("%s: %d train, %d validation, %d test, %d problem(s)", name, len(train), len(validation),
             len(test), len(problems))
    return DatasetSplits(name=name, train=train, validation=validation, test=test, source="real",
                         root=root, problems=problems, language="en", notes=notes, split_policy=split_policy,
                         intake=[intake])


# --------------------------------------------------------------------------------------- loaders

def _require_root(root: Path | None, name: str, expected: str) -> Path:
    if root is None or not Path(root).is_dir():
        raise DataError(f"{name} folder {root} not found: put the data under <data_root>/{name} "
                        f"({expected}; see docs/datasets.md)")
    return Path(root)


def _first_existing(root: Path, names: Iterable[str], dataset: str) -> Path:
    names = list(names)
    for name in names:
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root}: no {dataset} data file; expected one of {', '.join(names)} "
                    "(see docs/datasets.md)")


NO_SOURCES_NOTE = "no sources.jsonl"  # a note starting so: background-knowledge rows are "not available"
GENERIC_NO_SOURCES = "loaded without background knowledge"


def _attach_sources(root: Path, records: list[RawRecord], problems: list[Problem],
                    missing: str = GENERIC_NO_SOURCES) -> list[str]:
    """Fill ``record.sources`` from ``sources.jsonl`` beside the data file; returns notes.

    ``missing``: why there is none, when the dataset has a known reason (the table cell of a row that
    needs background knowledge reads "not available: <missing>")."""
    path = root / "sources.jsonl"
    if not path.is_file():
        return [f"{NO_SOURCES_NOTE}: {missing}"]
    by_id = read_sources_file(path, problems)
    known = {r.item_id for r in records}
    for item_id in sorted(set(by_id) - known):
        problems.append(Problem(str(path), None, f"sources given for unknown id {item_id}; ignored",
                                severity="warning", item_id=item_id))
    without = []
    for record in records:
        if record.item_id in by_id:
            record.sources = by_id[record.item_id]
        elif not record.sources:
            without.append(record.item_id)
    if without:
        problems.append(Problem(str(path), None, f"{len(without)} item(s) have no background sources: "
                                f"{_summarise(without)}", severity="warning"))
    return [f"background knowledge from {path.name} ({len(by_id)} target(s) with sources)"]


def load_novemofake(root: Path | None, options: LoadOptions) -> DatasetSplits:
    """NovEmoFake source-target pairs from ``novemofake.jsonl`` (or ``.csv``)."""
    root = _require_root(root, "novemofake", "novemofake.jsonl or novemofake.csv and images/")
    path = _first_existing(root, ("novemofake.jsonl", "novemofake.csv"), "NovEmoFake")
    problems: list[Problem] = []
    records = read_novemofake_file(path, problems)
    without = [r.item_id for r in records if not r.sources]
    if without:
        problems.append(Problem(str(path), None, f"{len(without)} target(s) have no sources (NovEmoFake "
                                f"pairs every target with background): {_summarise(without)}",
                                severity="warning"))
    return build_splits("novemofake", root, records, options, problems, path)


def load_fauxtography(root: Path | None, options: LoadOptions) -> DatasetSplits:
    """Fauxtography claims from ``fauxtography.csv``: ``id, claim_text, image, label[, source_text, split]``."""
    root = _require_root(root, "fauxtography", "fauxtography.csv and images/")
    path = _first_existing(root, ("fauxtography.csv",), "Fauxtography")
    problems: list[Problem] = []
    table = read_table(path, problems, delimiter=",", quoted=True)
    columns = table.columns({"id": ("claim_id",), "claim_text": ("claim", "text"), "image": ("image_url",),
                             "label": ("rating",), "source_text": (), "split": ()},
                            required=("id", "claim_text", "image", "label"))
    records = []
    for row in table.rows:
        def get(name: str) -> str:
            return row.values[columns[name]].strip() if name in columns else ""
        source_text = get("source_text")
        records.append(RawRecord(
            item_id=get("id"), text=get("claim_text"), image_refs=_image_list(get("image")),
            label=get("label"), origin="fauxtography", file=str(path), line=row.line,
            split=get("split") or None,
            sources=[SourceNews(text=source_text)] if source_text else None))
    notes = _attach_sources(root, records, problems)
    return build_splits("fauxtography", root, records, options, problems, path, "fauxtography", notes)


_RECOVERY_COLUMNS = {"news_id": ("id",), "url": (), "publisher": (), "publish_date": (), "author": (),
                     "title": (), "image": ("image_url", "top_image"), "body_text": ("text", "body"),
                     "news_guard_score": (), "mbfc_level": (), "political_bias": (), "country": (),
                     "reliability": ("label",), "split": ()}


RECOVERY_NO_SOURCES = "no public background sources for ReCOVery"  # NovEmoFake's source CSVs are not public in full


def load_recovery(root: Path | None, options: LoadOptions) -> DatasetSplits:
    """ReCOVery ``recovery-news-data.csv`` (reliability 1 = real, 0 = fake); text = title + body.

    Labels are per publisher (source reliability of 44 outlets), so the test items of one outlet
    are not independent evidence: a model that recognises the outlet gets all of them right or
    wrong together. The statistics therefore cluster by publisher (``cluster_unit="publisher"``),
    not by image; ``--split publisher`` keeps outlets apart across train/validation/test.
    """
    root = _require_root(root, "recovery", "recovery-news-data.csv and images/")
    path = _first_existing(root, ("recovery-news-data.csv", "dataset/recovery-news-data.csv"), "ReCOVery")
    problems: list[Problem] = []
    table = read_table(path, problems, delimiter=",", quoted=True)
    columns = table.columns(_RECOVERY_COLUMNS, required=("news_id", "title", "image", "body_text",
                                                         "reliability"))
    records = []
    for row in table.rows:
        def get(name: str) -> str:
            return row.values[columns[name]].strip() if name in columns else ""
        reliability = get("reliability")
        label: Any = reliability  # an unparsable value is reported as an unknown reliability
        if re.fullmatch(r"[01](\.0+)?", reliability):
            label = REAL if int(float(reliability)) == 1 else FAKE
        text = "\n".join(part for part in (get("title"), get("body_text")) if part)
        records.append(RawRecord(item_id=get("news_id"), text=text, image_refs=_image_list(get("image")),
                                 label=label, origin="recovery", file=str(path), line=row.line,
                                 split=get("split") or None, label_field="reliability",
                                 label_expected="1 (reliable = real) or 0 (unreliable = fake)",
                                 publisher=get("publisher") or None))
    notes = _attach_sources(root, records, problems, RECOVERY_NO_SOURCES) + [
        "label: reliability 1 -> real (0), 0 -> fake (1)", "cluster unit: publisher (labels are per outlet)"]
    splits = build_splits("recovery", root, records, options, problems, path, "recovery", notes)
    return dataclasses.replace(splits, cluster_unit="publisher")


def load_ticnn(root: Path | None, options: LoadOptions) -> DatasetSplits:
    """TI-CNN JSON records ``title, original_post, image_url, type, label`` (label 1/fake = fake).

    Records without an ``id`` get ``ticnn-<n>`` (n = 1-based position in the file), which is also the
    key ``sources.jsonl`` must use for them. Text = title + original post.
    """
    root = _require_root(root, "ticnn", "ticnn.json or ticnn.jsonl and images/")
    path = _first_existing(root, ("ticnn.jsonl", "ticnn.json"), "TI-CNN")
    problems: list[Problem] = []
    records = []
    for position, (line, obj) in enumerate(read_json_records(path, problems), start=1):
        if not isinstance(obj, dict):
            problems.append(Problem(str(path), line, f"expected a JSON object, got {type(obj).__name__}; skipped"))
            continue
        text = "\n".join(part for part in (_text(obj.get("title")), _text(obj.get("original_post"))) if part)
        records.append(RawRecord(
            item_id=_text(obj.get("id")) or f"ticnn-{position}", text=text,
            image_refs=_image_list(obj.get("image_url", obj.get("image"))), label=obj.get("label"),
            origin="ticnn", file=str(path), line=line, split=_text(obj.get("split")) or None))
    notes = _attach_sources(root, records, problems) + ["label: 'fake' or 1 -> fake, 'real' or 0 -> real"]
    return build_splits("ticnn", root, records, options, problems, path, "ticnn", notes)


NOVEMOFAKE_SPEC = DatasetSpec(
    name="novemofake", loader=load_novemofake, folder="novemofake",
    description="NovEmoFake (Kumari et al. 2023): targets from Fauxtography/ReCOVery/TI-CNN paired with "
                "background source news; open JSONL/CSV layout of this suite",
    language="en", kind="real", has_events=False, has_source=True,
    licence="not released publicly by the authors; research use on request (doi 10.1007/s10844-023-00789-x)",
    published_at="Kumari et al., J. Intell. Inf. Syst. 2023; build with the steps in benchmark.data.relevance",
    tags=("novemofake", "table4", "table5", "table6"))
FAUXTOGRAPHY_SPEC = DatasetSpec(
    name="fauxtography", loader=load_fauxtography, folder="fauxtography",
    description="Fauxtography (Zlatkova et al. 2019): image claims from Snopes/Reuters, CSV of this suite",
    language="en", kind="real", licence="no licence stated; claim and image URLs only, research use",
    published_at="https://gitlab.com/didizlatkova/fake-image-detection", tags=("novemofake", "table4"))
RECOVERY_SPEC = DatasetSpec(
    name="recovery", loader=load_recovery, folder="recovery",
    description="ReCOVery (Zhou et al. 2020): COVID-19 news articles with head images, reliability labels",
    language="en", kind="real",
    licence="no licence stated; article text and images remain the publishers' copyright",
    published_at="https://github.com/apurvamulay/ReCOVery", tags=("novemofake", "table4"))
TICNN_SPEC = DatasetSpec(
    name="ticnn", loader=load_ticnn, folder="ticnn",
    description="TI-CNN (Yang et al. 2018): US-election news with images, fake/real",
    language="en", kind="real", licence="no licence stated; research use",
    published_at="Yang et al. 2018, arXiv:1806.00749 (data link in the paper)", tags=("novemofake", "table4"))

DATASET_SPECS: tuple[DatasetSpec, ...] = (NOVEMOFAKE_SPEC, FAUXTOGRAPHY_SPEC, RECOVERY_SPEC, TICNN_SPEC)
