"""Weibo rumour corpus (Jin et al. 2017, as used by EANN, MVAE and COOLANT) read into NewsItems.

Published layout (``<data_root>/weibo/``)::

    tweets/train_rumor.txt  tweets/train_nonrumor.txt  tweets/test_rumor.txt  tweets/test_nonrumor.txt
    rumor_images/<name>.jpg  nonrumor_images/<name>.jpg

Each post takes three lines: (1) 15 ``|``-separated metadata fields, the tweet id first; (2) the
post's image URLs separated by ``|`` and ending with ``null``; (3) the text (may be empty). An image is
found by the last part of its URL (exact file name first, then the same stem with any image
extension), in the folder of its label first and then in the other one, since a few images of the
release sit in the other folder (EANN's loader also looks in both). Rumours are fake (label 1).

Robustness: a metadata line without exactly 15 fields is reported (``file:line``) and the reader
re-synchronises on the next valid metadata line, so one broken post does not shift every later post.
Posts whose images are all missing follow ``LoadOptions.on_missing_image``. Duplicate ids within one
split are reported and the later copy dropped. Validation is carved from train (stratified by label,
seeded; ``LoadOptions.split`` other than ``random`` keeps shared images/texts on one side); the test
split is the published one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from benchmark.data.images import IMAGE_SUFFIXES, index_images
from benchmark.data.splits import balance_line, carve, check_policy, grouping_policy
from benchmark.data.schema import FAKE, REAL, DataError, DatasetSplits, FileIntake, NewsItem, Problem
from benchmark.data.spec import DatasetSpec, LoadOptions
from benchmark.data.textio import read_lines

log = logging.getLogger(__name__)

__all__ = ["WEIBO_FILES", "METADATA_FIELDS", "WeiboPost", "read_weibo_file", "load_weibo", "SPEC"]

METADATA_FIELDS = 15
WEIBO_FILES: dict[str, tuple[tuple[str, int], ...]] = {
    "train": (("tweets/train_rumor.txt", FAKE), ("tweets/train_nonrumor.txt", REAL)),
    "test": (("tweets/test_rumor.txt", FAKE), ("tweets/test_nonrumor.txt", REAL)),
}
IMAGE_FOLDERS = {FAKE: "rumor_images", REAL: "nonrumor_images"}


@dataclass(frozen=True)
class WeiboPost:
    """One three-line record as read, before images are resolved."""

    post_id: str
    text: str
    image_urls: tuple[str, ...]
    label: int
    file: str
    line: int


def _is_metadata(line: str) -> bool:
    fields = line.split("|")
    first = fields[0].strip()
    # an image-URL line with 14 URLs + null also has 15 fields: its first field is a URL
    return len(fields) == METADATA_FIELDS and first != "" and "://" not in first and first != "null"


def _looks_like_metadata(line: str) -> bool:
    """A line that was meant as a metadata line: a numeric id followed by ``|`` fields."""
    return bool(re.match(r"^\s*\d{6,}\|", line))


def read_weibo_file(path: Path, label: int, problems: list[Problem]) -> list[WeiboPost]:
    """Parse one ``tweets/*.txt`` file into posts, reporting every malformed record."""
    lines = read_lines(path, problems)
    posts: list[WeiboPost] = []
    i = 0
    while i < len(lines):
        number, line = lines[i]
        if not line.strip():
            i += 1
            continue
        if not _is_metadata(line):
            count = len(line.split("|"))
            # skip to the next valid metadata line, reporting the whole skipped stretch once
            j = i + 1
            while j < len(lines) and not _is_metadata(lines[j][1]):
                j += 1
            what = (f"metadata line has {count} '|'-separated field(s), expected {METADATA_FIELDS}"
                    if _looks_like_metadata(line) or count > 1
                    else "expected a metadata line (15 '|'-separated fields, tweet id first)")
            problems.append(Problem(str(path), number,
                                    f"{what}; post skipped (lines {number}-{lines[j - 1][0]})",
                                    severity="warning"))
            i = j
            continue
        post_id = line.split("|", 1)[0].strip()
        if i + 1 >= len(lines):
            problems.append(Problem(str(path), number, f"post {post_id}: file ends after the metadata "
                                    "line (image URL and text lines missing); post skipped",
                                    item_id=post_id))
            break
        url_number, url_line = lines[i + 1]
        if _is_metadata(url_line):
            problems.append(Problem(str(path), url_number, f"post {post_id}: image URL and text lines "
                                    "missing before the next post; post skipped", item_id=post_id))
            i += 1
            continue
        if i + 2 < len(lines) and not _is_metadata(lines[i + 2][1]):
            text_number, text = lines[i + 2]
            i += 3
        else:
            # the text line is missing (next post starts, or end of file): an empty text
            text_number, text = url_number, ""
            problems.append(Problem(str(path), url_number, f"post {post_id}: text line missing; "
                                    "read as empty text", severity="warning", item_id=post_id))
            i += 2
        urls = [u.strip() for u in url_line.split("|") if u.strip()]
        if urls and urls[-1].lower() == "null":
            urls = urls[:-1]
        else:
            problems.append(Problem(str(path), url_number, f"post {post_id}: image URL line does not end "
                                    "with 'null' (is the record shifted?); URLs used as given",
                                    severity="warning", item_id=post_id))
        urls = [u for u in urls if u.lower() != "null"]
        if not text.strip():
            problems.append(Problem(str(path), text_number, f"post {post_id}: empty text; kept as an "
                                    "image-only post", severity="warning", item_id=post_id))
        posts.append(WeiboPost(post_id, text.strip(), tuple(urls), label, str(path), number))
    return posts


class _ImageFinder:
    """Finds a URL's file in the label's image folder, then in the other one."""

    def __init__(self, root: Path) -> None:
        self.by_name: dict[int, dict[str, Path]] = {}
        self.by_stem: dict[int, dict[str, Path]] = {}
        for label, folder in IMAGE_FOLDERS.items():
            directory = root / folder
            stems = index_images(directory)
            self.by_stem[label] = stems
            self.by_name[label] = {p.name: p for p in stems.values()}
            if directory.is_dir():
                for path in directory.iterdir():
                    self.by_name[label].setdefault(path.name, path)

    def find(self, url: str, label: int) -> Path | None:
        name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        if not name:
            return None
        stem = name.rsplit(".", 1)[0] if Path(name).suffix.lower() in IMAGE_SUFFIXES else name
        for folder_label in (label, 1 - label):
            if name in self.by_name[folder_label]:
                return self.by_name[folder_label][name]
            if stem in self.by_stem[folder_label]:
                return self.by_stem[folder_label][stem]
        return None


def load_weibo(root: Path | None, options: LoadOptions) -> DatasetSplits:
    """Read the Weibo folder ``root`` into train/validation/test NewsItems (see module docstring)."""
    if root is None or not Path(root).is_dir():
        raise DataError(f"Weibo folder {root} not found: put the release under <data_root>/weibo "
                        f"with tweets/, rumor_images/ and nonrumor_images/ (see docs/datasets.md)")
    root = Path(root)
    problems: list[Problem] = []
    finder = _ImageFinder(root)
    for label, folder in IMAGE_FOLDERS.items():
        if not (root / folder).is_dir():
            problems.append(Problem(str(root / folder), None, "image folder missing: every post of this "
                                    "label lacks its image", severity="warning"))
    split_items: dict[str, list[NewsItem]] = {}
    intake: list[FileIntake] = []
    missing_posts: list[str] = []
    for split_name, files in WEIBO_FILES.items():
        items: list[NewsItem] = []
        seen: dict[str, NewsItem] = {}
        for relative, label in files:
            path = root / relative
            if not path.is_file():
                raise DataError(f"{path}: Weibo file missing; expected {', '.join(r for fs in WEIBO_FILES.values() for r, _ in fs)} "
                                f"under {root} (see docs/datasets.md)")
            posts = read_weibo_file(path, label, problems)
            counts = FileIntake(str(path), posts=len(posts))
            intake.append(counts)
            for post in posts:
                images = tuple(p for p in (finder.find(u, post.label) for u in post.image_urls) if p)
                if not images:
                    reason = (f"post {post.post_id}: none of its {len(post.image_urls)} image(s) found "
                              f"in {IMAGE_FOLDERS[post.label]}/ or {IMAGE_FOLDERS[1 - post.label]}/"
                              if post.image_urls else f"post {post.post_id}: no image URL")
                    if options.on_missing_image == "error":
                        missing_posts.append(f"{post.file}:{post.line}: {reason}")
                        continue
                    if options.on_missing_image == "drop":
                        counts.dropped += 1
                        problems.append(Problem(post.file, post.line, f"{reason}; post dropped "
                                                "(on_missing_image=drop)", severity="warning",
                                                item_id=post.post_id))
                        continue
                    counts.blanked += 1
                    problems.append(Problem(post.file, post.line, f"{reason}; kept without an image "
                                            "(on_missing_image=blank)", severity="warning",
                                            item_id=post.post_id))
                item = NewsItem(item_id=post.post_id, text=post.text, image_paths=images,
                                label=post.label, language="zh")
                if post.post_id in seen:
                    first = seen[post.post_id]
                    conflict = first.label != item.label
                    problems.append(Problem(
                        post.file, post.line,
                        f"duplicate post id {post.post_id} in {split_name} "
                        + ("with a conflicting label" if conflict else "(same label)")
                        + "; later copy dropped", severity="error" if conflict else "warning",
                        item_id=post.post_id))
                    continue
                seen[post.post_id] = item
                items.append(item)
        split_items[split_name] = items
    if missing_posts:
        shown = "\n  ".join(missing_posts[:20])
        more = f"\n  ... and {len(missing_posts) - 20} more" if len(missing_posts) > 20 else ""
        raise DataError(f"{root}: {len(missing_posts)} Weibo post(s) have no image file "
                        f"(on_missing_image=error):\n  {shown}{more}\nFix: add the images, or load with "
                        f"--on-missing-image drop (skip those posts) or blank (keep them text-only)")
    policy = check_policy(grouping_policy(options.split, "weibo", published=True), split_items["train"], "weibo")
    train, validation = carve(split_items["train"], policy, options.validation_fraction, options.seed)
    how = ("stratified by label" if policy == "random" else
           f"split={policy}: no group of shared image/text straddles train and validation, "
           "stratified as far as groups allow")
    notes = [
        "published train/test files; validation carved from train "
        f"({how}, fraction {options.validation_fraction}, seed {options.seed})",
        "label balance: " + "; ".join(balance_line(n, s) for n, s in (("train", train), ("validation", validation),
                                                                     ("test", split_items["test"]))),
        f"posts with no image file: on_missing_image={options.on_missing_image}",
    ]
    log.info("weibo: %d train, %d validation, %d test, %d problem(s)",
             len(train), len(validation), len(split_items["test"]), len(problems))
    return DatasetSplits(name="weibo", train=train, validation=validation, test=split_items["test"],
                         source="real", root=root, problems=problems, language="zh", notes=notes, intake=intake,
                         split_policy=("published" if policy == "random" else f"published/{policy}-validation"))


SPEC = DatasetSpec(
    name="weibo",
    loader=load_weibo,
    folder="weibo",
    description="Weibo rumour corpus (Jin et al. 2017): Chinese posts with images, rumour = fake",
    language="zh",
    kind="real",
    has_events=False,
    has_source=False,
    licence="research use; distributed by the authors of Jin et al. 2017 / EANN on request",
    published_at="https://github.com/yaqingwang/EANN-KDD18 (data link in its README)",
    tags=("coolant", "table1"),
)

DATASET_SPECS: tuple[DatasetSpec, ...] = (SPEC,)
