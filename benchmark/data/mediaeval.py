"""Adapters for the Twitter MediaEval "Verifying Multimedia Use" corpora (2015 and 2016 releases).

Both releases ship a development and a test TSV of tweets plus image folders, but they differ in
file names and column order (the 2016 test file even orders its columns differently from the 2016
dev file), so one reader, parameterised by a :class:`MediaEvalLayout`, finds columns by header name
through aliases. The event of a tweet is the prefix of its image id (``sandyA_real_12`` -> ``sandyA``);
dev and test events are disjoint, and validation is carved from dev by whole events.

Policies (from :class:`LoadOptions`): a tweet whose images are all missing is dropped with a warning
Problem (``drop``), kept without images (``blank``), or stops loading with a :class:`DataError`
(``error``). 2015's ``humor`` label is dropped (warning) unless ``keep_humor`` keeps it as fake.
Unknown labels and duplicate post ids are reported and the row is skipped. Texts are kept verbatim.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmark.data.images import index_images
from benchmark.data.sampling import event_split
from benchmark.data.schema import FAKE, REAL, DataError, DatasetSplits, FileIntake, NewsItem, Problem
from benchmark.data.spec import DatasetSpec, LoadOptions
from benchmark.data.textio import read_table

log = logging.getLogger(__name__)

# canonical column -> header spellings seen in the releases (compared lower-case, letters/digits only)
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "post_id": ("post_id", "tweetId", "tweet_id", "id"),
    "text": ("post_text", "tweetText", "tweet_text", "text"),
    "image_ids": ("image_id(s)", "imageId(s)", "image_id", "imageId", "image_ids"),
    "label": ("label",),
    "user_id": ("user_id", "userId"),
    "username": ("username", "user_name"),
    "timestamp": ("timestamp",),
}
REQUIRED_COLUMNS = ("post_id", "text", "image_ids", "label")
LABELS = {"fake": FAKE, "real": REAL}


@dataclass(frozen=True)
class MediaEvalLayout:
    """Where one release keeps its files, relative to the dataset folder."""

    name: str
    dev_posts: str
    test_posts: str
    dev_images: str
    test_images: str


MEDIAEVAL2016 = MediaEvalLayout("mediaeval2016", "devset/posts.txt", "testset/posts_groundtruth.txt",
                                "devset/images", "testset/images")
MEDIAEVAL2015 = MediaEvalLayout("mediaeval2015", "devset/tweets.txt", "testset/tweets.txt",
                                "devset/images", "testset/images")


def event_of(image_id: str) -> str:
    """The event an image id belongs to: the text before its first ``_`` (``boston_fake_03`` -> ``boston``)."""
    return image_id.strip().split("_", 1)[0]


def read_posts(posts_file: Path, images_dir: Path, options: LoadOptions, problems: list[Problem],
               seen_ids: set[str] | None = None, intake: list[FileIntake] | None = None) -> list[NewsItem]:
    """Read one MediaEval posts TSV into NewsItems, applying the label and missing-image policies.

    ``seen_ids`` collects post ids across files: a post id already seen (in this file or an earlier
    one) is reported as a duplicate and its row skipped. ``intake`` (when given) gets this file's
    post count and how many posts the missing-image policy dropped or blanked.
    """
    table = read_table(posts_file, problems)
    columns = table.columns(COLUMN_ALIASES, REQUIRED_COLUMNS)
    images = index_images(images_dir)
    if not images:
        log.warning("%s: no image files found; every tweet counts as missing its image", images_dir)
    seen = seen_ids if seen_ids is not None else set()
    file_name = str(posts_file)
    items: list[NewsItem] = []
    partial = 0
    counts = FileIntake(file_name, posts=len(table.rows))
    if intake is not None:
        intake.append(counts)
    for row in table.rows:
        post_id = row.values[columns["post_id"]].strip()
        raw_label = row.values[columns["label"]].strip().lower()
        if not post_id:
            problems.append(Problem(file_name, row.line, "empty post id; row skipped", "warning"))
            continue
        if raw_label == "humor":
            if not options.keep_humor:
                problems.append(Problem(file_name, row.line, "label 'humor' dropped (pass keep_humor to keep "
                                        "humor tweets as fake)", "warning", post_id))
                continue
            label = FAKE
        elif raw_label in LABELS:
            label = LABELS[raw_label]
        else:
            problems.append(Problem(file_name, row.line, f"unknown label {raw_label!r} (expected fake or real); "
                                    f"row skipped", "warning", post_id))
            continue
        if post_id in seen:
            problems.append(Problem(file_name, row.line, f"duplicate post id {post_id}; row skipped (the first "
                                    f"occurrence is kept)", "warning", post_id))
            continue
        seen.add(post_id)
        image_ids = [part.strip() for part in row.values[columns["image_ids"]].split(",") if part.strip()]
        found = tuple(images[image_id] for image_id in image_ids if image_id in images)
        missing = [image_id for image_id in image_ids if image_id not in images]
        if not found:
            what = (f"image(s) {', '.join(missing)} not found in {images_dir} (no <image_id>.<ext> file)"
                    if image_ids else "no image id")
            if options.on_missing_image == "error":
                raise DataError(f"{file_name}:{row.line}: {what}. Load with --on-missing-image drop "
                                f"(or blank) to skip or keep such tweets")
            if options.on_missing_image == "drop":
                counts.dropped += 1
                problems.append(Problem(file_name, row.line, f"{what}; tweet dropped", "warning", post_id))
                continue
            if options.on_missing_image != "blank":
                raise DataError(f"unknown on_missing_image policy {options.on_missing_image!r}; "
                                f"use drop, blank or error")
            counts.blanked += 1
        elif missing:
            partial += 1
        items.append(NewsItem(item_id=post_id, text=row.values[columns["text"]], image_paths=found,
                              label=label, event=event_of(image_ids[0]) if image_ids else None,
                              language=None))
    if partial:
        log.info("%s: %d tweets keep only some of their listed images (others missing)", posts_file, partial)
    return items


def load_mediaeval(root: Path | None, options: LoadOptions, layout: MediaEvalLayout) -> DatasetSplits:
    """Load a MediaEval release: dev -> train + validation (by event), test file -> test."""
    if root is None or not Path(root).is_dir():
        raise DataError(f"{layout.name}: data folder {root} not found; put the release under "
                        f"<data root>/{layout.name} or pass --data-root")
    root = Path(root)
    problems: list[Problem] = []
    seen: set[str] = set()
    intake: list[FileIntake] = []
    test = read_posts(root / layout.test_posts, root / layout.test_images, options, problems, seen, intake)
    dev = read_posts(root / layout.dev_posts, root / layout.dev_images, options, problems, seen, intake)
    test_events = {item.event for item in test if item.event is not None}
    shared = sorted({item.event for item in dev if item.event in test_events})
    if shared:
        problems.append(Problem(str(root / layout.dev_posts), None,
                                f"events {', '.join(shared)} occur in both dev and test; the event split "
                                f"leaks", "warning"))
    train, validation = event_split(dev, options.validation_fraction, options.seed)
    dev_events = Counter(item.event for item in dev)
    validation_events = sorted({item.event for item in validation if item.event is not None})
    dropped = Counter(p.file for p in problems if p.reason.endswith("tweet dropped"))
    notes = [
        f"train/validation from {layout.dev_posts} split by event (image-id prefix), validation "
        f"fraction {options.validation_fraction}, seed {options.seed}: validation events "
        f"{', '.join(validation_events)}",
        f"test = {layout.test_posts} ({len(test_events)} events, disjoint from {len(dev_events)} dev events)",
        f"missing images: policy {options.on_missing_image}"
        + (f"; dropped {sum(dropped.values())} tweets" if dropped else ""),
        f"humor tweets: {'kept as fake' if options.keep_humor else 'dropped'}",
        "test split read in full; dev rows whose post id also occurs in test are skipped as duplicates",
        "texts kept verbatim (URLs, mentions, emoji); mostly English with other languages mixed in, so "
        "items carry language None and the dataset language is en",
    ]
    return DatasetSplits(name=layout.name, train=train, validation=validation, test=test, source="real",
                         root=root, problems=problems, language="en", notes=notes, intake=intake)


def load_mediaeval2016(root: Path | None, options: LoadOptions) -> DatasetSplits:
    """Twitter MediaEval 2016 (``devset/posts.txt``, ``testset/posts_groundtruth.txt``)."""
    return load_mediaeval(root, options, MEDIAEVAL2016)


def load_mediaeval2015(root: Path | None, options: LoadOptions) -> DatasetSplits:
    """Twitter MediaEval 2015 (``devset/tweets.txt``, ``testset/tweets.txt``)."""
    return load_mediaeval(root, options, MEDIAEVAL2015)


DATASET_SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        name="mediaeval2016", loader=load_mediaeval2016, folder="mediaeval2016",
        description="Twitter, MediaEval 2016 Verifying Multimedia Use: 15,629 dev / 2,228 test tweets "
                    "with images, events disjoint between dev and test",
        language="en", kind="real", has_events=True, licence="Apache-2.0 (image-verification-corpus, "
        "MKLab-ITI); images are third-party, research use only", published_at="2016",
        tags=("twitter", "events", "coolant")),
    DatasetSpec(
        name="mediaeval2015", loader=load_mediaeval2015, folder="mediaeval2015",
        description="Twitter, MediaEval 2015 Verifying Multimedia Use (devset/testset tweets.txt); the "
                    "COOLANT paper's Twitter split was derived from it",
        language="en", kind="real", has_events=True, licence="Apache-2.0 (image-verification-corpus, "
        "MKLab-ITI); images are third-party, research use only", published_at="2015",
        tags=("twitter", "events", "coolant")),
)
