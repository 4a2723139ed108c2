"""The COOLANT paper's Twitter split (MediaEval 2015's events), rebuilt from the MediaEval 2016 release.

Why: the paper "keeps the same data split scheme as the benchmark", MediaEval 2015's, and every tweet
of it is inside the 2016 release: the 2016 devset is the 2015 devset (humour tweets removed) plus the
2015 test set. The event (image-id prefix, :func:`benchmark.data.mediaeval.event_of`) tells them apart,
so this adapter reads only the 2016 devset and splits it by event:

* test = the six 2015 test events (:data:`TEST_EVENTS`);
* train = the eleven 2015 development events (:data:`DEVELOPMENT_EVENTS`), with validation carved from
  them by whole event (``benchmark.data.splits`` policy ``event``: events plus shared image content or
  normalised text are the groups, so nothing straddles train and validation; stratified by label as
  far as events allow).

The 2016 testset tweets are not part of this split (they are 2016's own test). A tweet of any other
event, or without an image id, is skipped with a warning naming its line. The dataset is registered
as ``mediaeval2015-from-2016`` with ``split_choice="paper"``: a suite's Twitter slot takes it under
``--split paper`` (the default) when no ``mediaeval2015`` folder exists, and passes it over under any
other choice (``--split published`` gives the 2016 split). A separate name, rather than a second
meaning of ``mediaeval2015``, keeps a cell's dataset name, fingerprint and header honest: these are
not the 2015 release's files (no humour tweets, the 2016 image folder, 48 of the 51 test images).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from pathlib import Path

from benchmark.data.mediaeval import MEDIAEVAL2016, read_posts
from benchmark.data.schema import FAKE, REAL, DataError, DatasetSplits, FileIntake, NewsItem, Problem
from benchmark.data.spec import DatasetSpec, LoadOptions
from benchmark.data.splits import balance_line, carve

log = logging.getLogger(__name__)

__all__ = ["TEST_EVENTS", "DEVELOPMENT_EVENTS", "PAPER_SPLIT", "NAME", "assign_events",
           "load_mediaeval2015_from_2016"]

NAME = "mediaeval2015-from-2016"
PAPER_SPLIT = "paper"  # DatasetSplits.split_policy of this dataset (a cell's identity and table header)
TEST_EVENTS = ("eclipse", "garissa", "nepal", "samurai", "syrianboy", "varoufakis")
DEVELOPMENT_EVENTS = ("boston", "bringback", "columbianChemicals", "elephant", "livr", "malaysia", "passport",
                      "pigFish", "sandy", "sochi", "underwater")


def assign_events(items: list[NewsItem], file: str, problems: list[Problem]
                  ) -> tuple[list[NewsItem], list[NewsItem]]:
    """``(development, test)``: each item by its event; any other event is skipped with a warning."""
    development, test = [], []
    other: Counter = Counter()
    for item in items:
        if item.event in TEST_EVENTS:
            test.append(item)
        elif item.event in DEVELOPMENT_EVENTS:
            development.append(item)
        else:
            other[item.event or "(no image id)"] += 1
    for event, count in sorted(other.items()):
        problems.append(Problem(file, None, f"event {event!r} ({count} tweets) is neither a MediaEval 2015 "
                                f"development nor test event; its tweets are left out of the paper's split",
                                "warning"))
    return development, test


def load_mediaeval2015_from_2016(root: Path | None, options: LoadOptions) -> DatasetSplits:
    """The paper's split from ``<root>/devset`` of a 2016 release (``root`` = the mediaeval2016 folder)."""
    if root is None or not Path(root).is_dir():
        raise DataError(f"{NAME}: data folder {root} not found; put the MediaEval 2016 release under "
                        f"<data root>/{MEDIAEVAL2016.name} or pass --data-root")
    root = Path(root)
    posts = root / MEDIAEVAL2016.dev_posts
    problems: list[Problem] = []
    intake: list[FileIntake] = []
    items = read_posts(posts, root / MEDIAEVAL2016.dev_images, options, problems, set(), intake)
    development, test = assign_events(items, str(posts), problems)
    # the file's own label counts (every tweet, image or not) are what the paper's numbers compare to
    every = read_posts(posts, root / MEDIAEVAL2016.dev_images, replace(options, on_missing_image="blank"), [], set())
    in_file = Counter((item.event in TEST_EVENTS, item.label) for item in every
                      if item.event in TEST_EVENTS or item.event in DEVELOPMENT_EVENTS)
    missing = [name for name, part in (("test", TEST_EVENTS), ("development", DEVELOPMENT_EVENTS))
               if not any(item.event in part for item in items)]
    if missing:
        raise DataError(f"{posts}: no tweet of any MediaEval 2015 {' or '.join(missing)} event "
                        f"({', '.join(TEST_EVENTS if 'test' in missing else DEVELOPMENT_EVENTS)}); this is not "
                        "the 2016 release's devset. Check the folder, or use --split published")
    train, validation = carve(development, "event", options.validation_fraction, options.seed)
    validation_events = sorted({item.event for item in validation if item.event})
    notes = [
        f"split={PAPER_SPLIT}: the COOLANT paper's Twitter split, MediaEval 2015's, rebuilt from "
        f"{MEDIAEVAL2016.dev_posts} of the 2016 release by event (image-id prefix)",
        f"test = the 2015 test events {', '.join(TEST_EVENTS)}; train = the 2015 development events "
        f"{', '.join(DEVELOPMENT_EVENTS)}; the 2016 testset is not used",
        f"validation carved from the development events by whole event (events, shared image content and "
        f"normalised texts grouped; stratified by label as far as events allow), fraction "
        f"{options.validation_fraction}, seed {options.seed}: validation events {', '.join(validation_events)}",
        "label balance: " + "; ".join(balance_line(n, s) for n, s in
                                      (("train", train), ("validation", validation), ("test", test))),
        f"in the file, before the missing-image policy: development events {in_file[(False, FAKE)]:,} fake + "
        f"{in_file[(False, REAL)]:,} real, test events {in_file[(True, FAKE)]:,} fake + {in_file[(True, REAL)]:,} "
        "real tweets; the paper reports '6,840 real + 5,007 fake' training tweets and 1,406 test posts "
        "(docs/datasets.md: its two training labels are swapped; its test count matches no public split)",
        f"missing images: policy {options.on_missing_image}",
        "humor tweets: none in the 2016 release (removed by its authors)",
    ]
    if options.split != PAPER_SPLIT:
        notes.append(f"--split {options.split} does not apply: this dataset is the paper's split")
    log.info("%s: %d train, %d validation, %d test", NAME, len(train), len(validation), len(test))
    return DatasetSplits(name=NAME, train=train, validation=validation, test=test, source="real", root=root,
                         problems=problems, language="en", notes=notes, intake=intake, split_policy=PAPER_SPLIT)


DATASET_SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        name=NAME, loader=load_mediaeval2015_from_2016, folder=MEDIAEVAL2016.name,
        description="Twitter, the COOLANT paper's split (MediaEval 2015's events) rebuilt from the MediaEval "
                    "2016 devset: train the 11 development events, test the 6 test events",
        language="en", kind="real", has_events=True, licence="Apache-2.0 (image-verification-corpus, "
        "MKLab-ITI); images are third-party, research use only", published_at="2015",
        tags=("twitter", "events", "coolant"), split_choice=PAPER_SPLIT),
)
