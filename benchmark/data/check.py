"""``bench data check``: what a dataset holds and everything wrong with it, before any training.

A reproduction is only as good as its data: a missing image folder, a truncated JPEG or the same
post on both sides of the train/test boundary silently changes a paper's number. This module loads
a registered dataset and reports, in one readable table:

* counts per split, per label, per event and per origin;
* images found, missing and unreadable (decoded with :func:`benchmark.data.images.inspect_image`),
  for target and source images;
* duplicate ids inside a split;
* leaks (:func:`find_leaks`): the same post id, the same text (whitespace and case normalised) or the
  same image bytes in train and test, or in validation and test. On Twitter MediaEval a shared image
  would break the event split; it is flagged only where it actually happens;
* every bad row the adapter met, as ``file:line: reason``.

Errors make :func:`run_data_check` exit non-zero; warnings alone (rows skipped by policy, empty texts)
exit zero. Runs call :func:`assert_no_leaks` before training; it raises unless leaks are allowed.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence, TextIO

from benchmark.data.images import inspect_image
from benchmark.data.clusters import ContentKeys, normalise_text
from benchmark.data.schema import SPLITS, DataError, DatasetSplits, FileIntake, NewsItem, Problem
from benchmark.data.spec import LoadOptions

log = logging.getLogger(__name__)

__all__ = ["ImageStats", "CheckReport", "normalise_text", "check_dataset", "find_leaks",
           "assert_no_leaks", "format_check_report", "run_data_check", "main"]

LEAK_PAIRS: tuple[tuple[str, str], ...] = (("train", "test"), ("validation", "test"))
_SHOW_IDS = 5


@dataclass
class ImageStats:
    """Image files referenced by one split (each distinct path counted once)."""

    items_without_image: int = 0
    found: int = 0
    missing: int = 0
    unreadable: int = 0
    source_found: int = 0
    source_missing: int = 0
    source_unreadable: int = 0


@dataclass
class CheckReport:
    """Everything :func:`check_dataset` found; :func:`format_check_report` prints it."""

    name: str
    source: str
    root: Path | None
    language: str
    counts: dict[str, dict[str, int]]
    events: dict[str, Counter]
    origins: dict[str, Counter]
    emotions: dict[str, Counter]
    images: dict[str, ImageStats]
    problems: list[Problem] = field(default_factory=list)  # the adapter's bad rows and the check's findings
    leaks: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    intake: list[FileIntake] = field(default_factory=list)  # posts per data file before any policy
    on_missing_image: str = ""
    has_source: bool = False
    fingerprint: str = ""
    event_labels: dict[str, Counter] = field(default_factory=dict)  # split -> Counter of (event, label)

    @property
    def all_problems(self) -> list[Problem]:
        return self.problems + self.leaks

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.all_problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.all_problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def _where(splits: DatasetSplits) -> str:
    return str(splits.root) if splits.root is not None else splits.name


def _id_list(items: Sequence[NewsItem] | Sequence[str]) -> str:
    ids = [item if isinstance(item, str) else item.item_id for item in items]
    shown = ", ".join(ids[:_SHOW_IDS])
    return shown + (f" (+{len(ids) - _SHOW_IDS} more)" if len(ids) > _SHOW_IDS else "")


def find_leaks(splits: DatasetSplits, _keys: ContentKeys | None = None) -> list[Problem]:
    """Items shared between train and test, or validation and test: same id, text or image bytes.

    One error Problem per shared id, per shared (normalised) text and per shared image content,
    naming the items on both sides. Empty texts are not compared.
    """
    keys = _keys or ContentKeys()
    where = _where(splits)
    leaks: list[Problem] = []
    for first, second in LEAK_PAIRS:
        a_items, b_items = splits.split(first), splits.split(second)
        if not a_items or not b_items:
            continue
        b_ids = {item.item_id for item in b_items}
        for item_id in sorted({item.item_id for item in a_items} & b_ids):
            leaks.append(Problem(where, None, f"leak: post id {item_id} is in both {first} and {second}",
                                 item_id=item_id))
        a_text: dict[str, list[NewsItem]] = defaultdict(list)
        b_text: dict[str, list[NewsItem]] = defaultdict(list)
        for item in a_items:
            if normalise_text(item.text):
                a_text[normalise_text(item.text)].append(item)
        for item in b_items:
            if normalise_text(item.text):
                b_text[normalise_text(item.text)].append(item)
        for text in sorted(set(a_text) & set(b_text)):
            left, right = a_text[text], b_text[text]
            if {i.item_id for i in left} == {i.item_id for i in right}:
                continue  # same ids: already reported as an id leak
            shown = text if len(text) <= 60 else text[:57] + "..."
            leaks.append(Problem(where, None, f"leak: same text in {first} ({_id_list(left)}) and {second} "
                                 f"({_id_list(right)}): {shown!r}", item_id=left[0].item_id))
        a_img: dict[str, list[tuple[NewsItem, Path]]] = defaultdict(list)
        b_img: dict[str, list[tuple[NewsItem, Path]]] = defaultdict(list)
        for bucket, items in ((a_img, a_items), (b_img, b_items)):
            for item in items:
                for path in item.image_paths:
                    key = keys.get(Path(path))
                    if key is not None:
                        bucket[key].append((item, Path(path)))
        for key in sorted(set(a_img) & set(b_img)):
            left = [i for i, _ in a_img[key]]
            right = [i for i, _ in b_img[key]]
            if {i.item_id for i in left} == {i.item_id for i in right}:
                continue  # same ids: already reported as an id leak
            paths = sorted({str(p) for _, p in a_img[key] + b_img[key]})
            leaks.append(Problem(paths[0], None, f"leak: same image content ({', '.join(Path(p).name for p in paths[:3])}"
                                 f"{'...' if len(paths) > 3 else ''}) in {first} ({_id_list(left)}) and "
                                 f"{second} ({_id_list(right)})", item_id=left[0].item_id))
    return leaks


def assert_no_leaks(splits: DatasetSplits, allow: bool) -> list[Problem]:
    """Raise :class:`DataError` listing (up to 20) leaks unless ``allow``; returns the leaks found."""
    leaks = find_leaks(splits)
    if not leaks:
        return []
    if allow:
        log.warning("%s: %d train/test leak(s) allowed by --allow-leaks; first: %s",
                    splits.name, len(leaks), leaks[0].reason)
        return leaks
    shown = "\n  ".join(p.reason for p in leaks[:20])
    more = f"\n  ... and {len(leaks) - 20} more" if len(leaks) > 20 else ""
    raise DataError(f"{splits.name}: {len(leaks)} item(s) overlap between training/validation and test, so "
                    f"test scores would be inflated:\n  {shown}{more}\nFix: pass --split grouped (items sharing an "
                    f"image or a text stay on one side; for datasets without a published split), remove the "
                    f"duplicates from the data (see `bench data check {splits.name}`), or pass --allow-leaks "
                    f"to run anyway")


def _image_state(path: Path, cache: dict[Path, str | None], inspect: bool) -> str:
    """'found', 'missing' or 'unreadable' (decoding each distinct file once)."""
    if not path.exists():
        return "missing"
    if not inspect:
        return "found"
    if path not in cache:
        cache[path] = inspect_image(path)
    return "found" if cache[path] is None else "unreadable"


def check_dataset(splits: DatasetSplits, inspect_images: bool = True) -> CheckReport:
    """Counts, image health, duplicate ids and leaks of ``splits`` (see the module docstring)."""
    where = _where(splits)
    report = CheckReport(
        name=splits.name, source=splits.source, root=splits.root, language=splits.language,
        counts=splits.counts(), events={}, origins={}, emotions={}, images={},
        problems=list(splits.problems), notes=list(splits.notes), intake=list(splits.intake),
        has_source=splits.has_source,
        fingerprint=splits.fingerprint())
    reasons: dict[Path, str | None] = {}
    users: dict[Path, list[str]] = defaultdict(list)
    for split_name in SPLITS:
        items = splits.split(split_name)
        report.events[split_name] = Counter(item.event for item in items if item.event is not None)
        report.event_labels[split_name] = Counter((item.event, item.label) for item in items
                                                  if item.event is not None)
        report.origins[split_name] = Counter(item.origin for item in items if item.origin is not None)
        report.emotions[split_name] = Counter(item.emotion for item in items if item.emotion is not None)
        stats = ImageStats()
        seen: set[Path] = set()
        seen_source: set[Path] = set()
        ids = Counter(item.item_id for item in items)
        for item_id, count in sorted(ids.items()):
            if count > 1:
                report.problems.append(Problem(where, None, f"duplicate id {item_id}: {count} items in "
                                               f"{split_name}", item_id=item_id))
        for item in items:
            if not item.image_paths:
                stats.items_without_image += 1
            for path in map(Path, item.image_paths):
                users[path].append(item.item_id)
                if path in seen:
                    continue
                seen.add(path)
                state = _image_state(path, reasons, inspect_images)
                setattr(stats, state, getattr(stats, state) + 1)
            for path in map(Path, item.source_image_paths):
                users[path].append(item.item_id)
                if path in seen_source:
                    continue
                seen_source.add(path)
                state = _image_state(path, reasons, inspect_images)
                name = f"source_{state}"
                setattr(stats, name, getattr(stats, name) + 1)
        report.images[split_name] = stats
    for path in sorted(users):
        if not path.exists():
            report.problems.append(Problem(str(path), None, f"image file missing (used by "
                                           f"{_id_list(sorted(set(users[path])))}); reload with "
                                           "--on-missing-image drop or blank, or restore the file",
                                           item_id=users[path][0]))
        elif reasons.get(path):
            report.problems.append(Problem(str(path), None, f"unusable image: {reasons[path]} (used by "
                                           f"{_id_list(sorted(set(users[path])))})",
                                           item_id=users[path][0]))
    report.leaks = find_leaks(splits)
    return report


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return [line([str(h) for h in header]), line(["-" * w for w in widths]), *[line(r) for r in rows]]


_MISSING_IMAGE = re.compile(r"image\(s\) (?P<ids>.+?) not found in ")


def _missing_image_groups(problems: Sequence[Problem]) -> Counter:
    """Missing image id -> number of posts that referenced it (from the adapters' warnings)."""
    counts: Counter = Counter()
    for problem in problems:
        match = _MISSING_IMAGE.search(problem.reason)
        if match:
            counts.update(i.strip() for i in match.group("ids").split(","))
    return counts


def group_problems(problems: Sequence[Problem]) -> list[str]:
    """One line per distinct (file, severity, reason) with how many rows and which lines: a missing
    image used by 400 tweets is one warning with a count, not 400 lines."""
    groups: dict[tuple[str, str, str], list[Problem]] = {}
    for problem in problems:
        groups.setdefault((problem.file, problem.severity, problem.reason), []).append(problem)
    lines = []
    for (file, severity, reason), members in groups.items():
        if len(members) == 1:
            lines.append(str(members[0]))
            continue
        where = [str(p.line) for p in members if p.line is not None]
        shown = ", ".join(where[:5]) + (f", ... ({len(where) - 5} more)" if len(where) > 5 else "")
        lines.append(f"{file}: {severity}: {reason} [{len(members)} rows" + (f": lines {shown}]" if where else "]"))
    return lines


def event_table(report: CheckReport) -> list[str]:
    """Tweets per event, split and label (largest first within a split): where each event went."""
    rows = []
    for split in SPLITS:
        counts = report.event_labels.get(split, Counter())
        events = sorted({event for event, _ in counts}, key=lambda e: (-(counts[(e, 0)] + counts[(e, 1)]), e))
        rows += [[e, split, counts[(e, 1)], counts[(e, 0)], counts[(e, 1)] + counts[(e, 0)]] for e in events]
    return _table(["event", "split", "fake", "real", "items"], rows) if rows else []


def format_check_report(report: CheckReport, max_problems: int | None = None, per_event: bool = False) -> str:
    """A plain-text report: a table per topic, then every problem as ``file:line: severity: reason``.
    ``per_event`` adds the event x split x label table (a split made by event shows where each went)."""
    out: list[str] = []
    root = f" at {report.root}" if report.root is not None else ""
    out.append(f"Dataset {report.name} ({report.source}, language {report.language}){root}")
    out.append(f"fingerprint {report.fingerprint}; background sources: {'yes' if report.has_source else 'no'}")
    out.append("")
    if report.intake:
        policy = f" (--on-missing-image {report.on_missing_image})" if report.on_missing_image else ""
        out.append(f"posts per file, before any policy, and what the missing-image policy did{policy}:")
        rows = [[f.file, f.posts, f.dropped, f.blanked] for f in report.intake]
        if len(rows) > 1:
            rows.append(["all", *(sum(f[k] for f in rows) for k in (1, 2, 3))])
        out += _table(["file", "posts", "dropped (no image)", "blanked (no image)"], rows)
        out.append("")
    rows = []
    for split in SPLITS:
        c, ev = report.counts[split], report.events[split]
        rows.append([split, c["total"], c["fake"], c["real"], len(ev) if ev else "-"])
    total = [sum(report.counts[s][k] for s in SPLITS) for k in ("total", "fake", "real")]
    all_events = set().union(*(set(report.events[s]) for s in SPLITS))
    rows.append(["all", *total, len(all_events) if all_events else "-"])
    out += _table(["split", "items", "fake", "real", "events"], rows)
    out.append("")
    header = ["images (kept posts)", "found", "missing", "unreadable", "posts w/o image"]
    rows = [[split, s.found, s.missing, s.unreadable, s.items_without_image]
            for split, s in report.images.items()]
    out += _table(header, rows)
    missing_ids = _missing_image_groups(report.all_problems)
    if missing_ids:
        posts = sum(missing_ids.values())
        out.append(f"missing image files before the policy: {len(missing_ids)} image id(s) used by {posts} post(s) "
                   f"(the posts above are what the policy kept); most used: "
                   + ", ".join(f"{k} ({n})" for k, n in missing_ids.most_common(5)))
    if report.has_source:
        out.append("")
        out += _table(["source images", "found", "missing", "unreadable"],
                      [[split, s.source_found, s.source_missing, s.source_unreadable]
                       for split, s in report.images.items()])
    if any(report.origins[s] for s in SPLITS):
        origins = sorted(set().union(*(set(report.origins[s]) for s in SPLITS)))
        out.append("")
        out += _table(["origin", *SPLITS], [[o, *(report.origins[s][o] for s in SPLITS)] for o in origins])
    if any(report.emotions[s] for s in SPLITS):
        out.append("")
        out += _table(["image emotion", *SPLITS],
                      [[f"{e} ({'joy/love/sadness' if e == 0 else 'fear/surprise/anger'})",
                        *(report.emotions[s][e] for s in SPLITS)] for e in (0, 1)])
    if all_events:
        out.append("")
        shared = {e for e in report.events["test"] if report.events["train"][e] or report.events["validation"][e]}
        out.append(f"events: {len(all_events)} in all; {len(shared)} test event(s) also in train/validation"
                   + (f" ({', '.join(sorted(shared)[:5])}{'...' if len(shared) > 5 else ''})" if shared else ""))
        biggest = Counter()
        for s in SPLITS:
            biggest.update(report.events[s])
        out.append("largest: " + ", ".join(f"{e} {n}" for e, n in biggest.most_common(8)))
        if per_event:
            out += event_table(report)
    if report.notes:
        out.append("")
        out.append("notes:")
        out += [f"  - {note}" for note in report.notes]
    out.append("")
    leak_count = len(report.leaks)
    out.append(f"leaks between train/validation and test: {leak_count}")
    problems = sorted(report.all_problems,  # errors first, then by file and line
                      key=lambda p: (p.severity != "error", p.file, -1 if p.line is None else p.line))
    grouped = group_problems(problems)
    out.append(f"problems: {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
               + (f" in {len(grouped)} distinct message(s)" if len(grouped) != len(problems) else ""))
    shown = grouped if max_problems is None else grouped[:max_problems]
    out += [f"  {line}" for line in shown]
    if len(shown) < len(grouped):
        out.append(f"  ... and {len(grouped) - len(shown)} more")
    out.append("")
    if report.errors:
        out.append(f"RESULT: FAILED with {len(report.errors)} error(s); fix them or see docs/datasets.md")
    elif report.warnings:
        out.append(f"RESULT: OK with {len(report.warnings)} warning(s)")
    else:
        out.append("RESULT: OK")
    return "\n".join(out)


def run_data_check(dataset_name: str, data_root: Path | None, options: LoadOptions,
                   out: TextIO | None = None, max_problems: int | None = None) -> int:
    """Load ``dataset_name`` and print its check report. Exit code: 0 ok or warnings only,
    1 errors (bad rows, unusable images, leaks, or a DataError while loading), 2 unknown or absent dataset.
    """
    out = sys.stdout if out is None else out  # looked up per call, so redirected stdout is honoured
    import benchmark.data.catalog  # noqa: F401  (registers every dataset)
    from benchmark.registry import DATASETS, UnknownNameError

    try:
        spec = DATASETS.get(dataset_name)
    except UnknownNameError as exc:
        print(f"error: {exc}", file=out)
        return 2
    if not spec.available(data_root):
        folder = spec.folder or spec.name
        where = f"{Path(data_root) / folder}" if data_root is not None else f"<data_root>/{folder} (no data root given)"
        print(f"error: dataset {spec.name} not found: expected the folder {where}. "
              f"Pass --data-root, or see docs/datasets.md for where {spec.name} is published and its layout.",
              file=out)
        return 2
    try:
        splits = spec.load(data_root, options)
    except DataError as exc:
        print(f"error: {spec.name} could not be loaded:\n{exc}", file=out)
        return 1
    report = check_dataset(splits)
    report.on_missing_image = options.on_missing_image
    print(format_check_report(report, max_problems=max_problems, per_event=spec.split_choice is not None),
          file=out)
    failed = bool(report.errors)
    for other in split_choices_of(spec, options.split):
        failed |= _check_split_choice(other, data_root, options, out)
    return 1 if failed else 0


def split_choices_of(spec, split: str) -> list:
    """Registered datasets that are the --split ``split`` choice rebuilt from ``spec``'s folder
    (mediaeval2016 under ``paper`` -> the paper's split), so checking a release also checks the split
    a suite slot would take from it."""
    from benchmark.registry import DATASETS
    return [other for other in (DATASETS.get(n) for n in DATASETS.names())
            if other.split_choice == split and other.name != spec.name and other.kind == spec.kind == "real"
            and other.folder == spec.folder]


def _check_split_choice(spec, data_root: Path | None, options: LoadOptions, out: TextIO) -> bool:
    """Print the counts per split, label and event of the split ``spec`` rebuilds; True when it fails."""
    print(f"\n=== --split {spec.split_choice}: dataset {spec.name}, from the same folder ===", file=out)
    try:
        splits = spec.load(data_root, options)
    except DataError as exc:
        print(f"error: {spec.name} could not be loaded:\n{exc}", file=out)
        return True
    report = check_dataset(splits, inspect_images=False)  # the files were inspected above
    lines = [f"{spec.description}", f"fingerprint {report.fingerprint}", ""]
    rows = [[split, *(report.counts[split][k] for k in ("total", "fake", "real")), len(report.events[split])]
            for split in SPLITS]
    lines += _table(["split", "items", "fake", "real", "events"], rows) + [""] + event_table(report)
    lines += ["", "notes:", *(f"  - {note}" for note in report.notes), ""]
    lines.append(f"leaks between train/validation and test: {len(report.leaks)}")
    lines += [f"  {line}" for line in group_problems(report.leaks)]
    errors = [p for p in report.all_problems if p.severity == "error"]
    lines.append(f"RESULT ({spec.name}): " + (f"FAILED with {len(errors)} error(s)" if errors else "OK"))
    print("\n".join(lines), file=out)
    return bool(errors)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmark.data.check NAME [--data-root DIR] ...`` (the same as ``bench data check``)."""
    parser = argparse.ArgumentParser(prog="bench data check", description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--on-missing-image", choices=("drop", "blank", "error"), default="drop")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    from benchmark.data.splits import DEFAULT_SPLIT, SPLIT_CHOICES
    parser.add_argument("--split", choices=SPLIT_CHOICES, default=DEFAULT_SPLIT)
    parser.add_argument("--workdir", type=Path, default=Path("bench-runs"))
    parser.add_argument("--max-problems", type=int, default=None)
    args = parser.parse_args(argv)
    options = LoadOptions(seed=args.seed, on_missing_image=args.on_missing_image,
                          validation_fraction=args.validation_fraction, workdir=args.workdir, split=args.split)
    return run_data_check(args.dataset, args.data_root, options, max_problems=args.max_problems)


if __name__ == "__main__":
    sys.exit(main())
