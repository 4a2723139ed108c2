"""The COOLANT paper's Twitter split (MediaEval 2015's events) rebuilt from a 2016 release: event
assignment, validation by event, no event or text on two sides, the --split choice of the Twitter
slot, `bench data check`, and the real counts."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from benchmark.data.check import find_leaks, normalise_text, run_data_check
from benchmark.data.mediaeval_paper import (DEVELOPMENT_EVENTS, NAME, TEST_EVENTS,
                                            load_mediaeval2015_from_2016)
from benchmark.data.schema import DataError, split_title
from benchmark.data.spec import LoadOptions
from benchmark.data.splits import grouping_policy
from benchmark.registry import DATASETS, SUITES, load_plugins
from benchmark.suites import DatasetSlot
from benchmark.suites.resolve import resolve_slots

DEV_HEADER = "post_id\tpost_text\tuser_id\timage_id(s)\tusername\ttimestamp\tlabel"
TEST_HEADER = "post_id\tpost_text\tuser_id\tusername\timage_id\ttimestamp\tlabel"
TS = "Wed Apr 17 18:57:37 +0000 2013"
SANDY_FLOOD = "Flooded subway in Manhattan"  # also tweeted about sochi: that text must never straddle a split

# (post id, text, image id, label): 2015 development events, 2015 test events, one event of neither
DEV = [*[(f"s{i}", f"sandy fake {i}", f"sandy_fake_{i % 3}", "fake") for i in range(6)],
       *[(f"r{i}", f"sandy real {i}", f"sandy_real_{i % 3}", "real") for i in range(5)],
       ("r5", SANDY_FLOOD, "sandy_real_0", "real"),
       ("b1", "boston fake", "boston_fake_01", "fake"), ("b2", "boston real", "boston_real_01", "real"),
       ("b3", "boston real again", "boston_real_01", "real"),
       ("m1", "malaysia plane", "malaysia_fake_01", "fake"),
       ("c1", "sochi wolf", "sochi_fake_01", "fake"), ("c2", SANDY_FLOOD.upper(), "sochi_fake_01", "fake"),
       ("n1", "nepal fake", "nepal_1", "fake"), ("n2", "nepal real", "nepal_2", "real"),
       ("n3", "nepal real 2", "nepal_2", "real"), ("e1", "eclipse real", "eclipse_01", "real"),
       ("g1", "garissa gone", "garissa_9", "real"),  # no image file: dropped by default
       ("z1", "not a 2015 event", "zebra_fake_1", "fake")]
TEST_2016 = [("t1", "Paris attacks real", "attacks_paris_1", "real")]  # 2016's own test: never used


def _image(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    colour = tuple(hashlib.sha1(name.encode()).digest()[:3])  # distinct bytes per image id
    Image.new("RGB", (8, 8), colour).save(folder / f"{name}.png")


def write_release(root: Path, dev=DEV) -> Path:
    (root / "devset").mkdir(parents=True)
    (root / "testset").mkdir(parents=True)
    rows = [f"{pid}\t{text}\t1\t{image}\tu\t{TS}\t{label}" for pid, text, image, label in dev]
    (root / "devset" / "posts.txt").write_text("\n".join([DEV_HEADER, *rows]) + "\n", encoding="utf-8")
    rows = [f"{pid}\t{text}\t1\tu\t{image}\t{TS}\t{label}" for pid, text, image, label in TEST_2016]
    (root / "testset" / "posts_groundtruth.txt").write_text("\n".join([TEST_HEADER, *rows]) + "\n",
                                                            encoding="utf-8")
    for image in sorted({image for _, _, image, _ in dev} - {"garissa_9"}):
        _image(root / "devset" / "images", image)
    _image(root / "testset" / "images", "attacks_paris_1")
    return root


@pytest.fixture()
def release(tmp_path: Path) -> Path:
    return write_release(tmp_path / "mediaeval2016")


def _events(items) -> set[str]:
    return {item.event for item in items}


def test_events_are_assigned_to_the_2015_sides(release: Path) -> None:
    splits = load_mediaeval2015_from_2016(release, LoadOptions(validation_fraction=0.25))
    assert splits.name == NAME and splits.split_policy == "paper"
    assert _events(splits.test) == {"nepal", "eclipse"}  # garissa's only tweet has no image file
    assert _events(splits.train + splits.validation) == {"sandy", "boston", "malaysia", "sochi"}
    ids = {item.item_id for _, item in splits.items()}
    assert "t1" not in ids  # the 2016 testset is 2016's own test, not part of this split
    assert "z1" not in ids and any("'zebra'" in p.reason and p.severity == "warning" for p in splits.problems)
    assert "g1" not in ids and any("garissa_9" in p.reason for p in splits.problems)
    assert set(TEST_EVENTS).isdisjoint(DEVELOPMENT_EVENTS) and len(DEVELOPMENT_EVENTS) == 11
    assert any("development events 10 fake + 8 real, test events 1 fake + 4 real" in n for n in splits.notes)


def test_validation_is_whole_events_stratified_and_leak_free(release: Path) -> None:
    for seed in range(6):
        splits = load_mediaeval2015_from_2016(release, LoadOptions(validation_fraction=0.25, seed=seed))
        train, validation, test = _events(splits.train), _events(splits.validation), _events(splits.test)
        assert validation and not train & validation and not (train | validation) & test
        assert {item.label for item in splits.validation} == {0, 1}  # boston is the only other real event
        assert "sandy" in train  # the big event stays in training
        # sochi repeats a sandy text (case differs): grouped with sandy, so never in validation
        assert "sochi" in train
        texts = {normalise_text(item.text) for item in splits.train}
        assert not texts & {normalise_text(item.text) for item in splits.validation}
        assert find_leaks(splits) == []


def test_a_devset_without_2015_test_events_is_refused(tmp_path: Path) -> None:
    root = write_release(tmp_path / "mediaeval2016", [row for row in DEV if row[2].startswith(("sandy", "boston"))])
    with pytest.raises(DataError, match="no tweet of any MediaEval 2015 test event.*--split published"):
        load_mediaeval2015_from_2016(root, LoadOptions())
    with pytest.raises(DataError, match="not found"):
        load_mediaeval2015_from_2016(tmp_path / "absent", LoadOptions())


TWITTER = DatasetSlot("twitter", "Twitter", ("mediaeval2015", NAME, "mediaeval2016"), "synthetic-demo")


def test_the_twitter_slot_takes_the_paper_split_unless_published(tmp_path: Path) -> None:
    load_plugins()
    (tmp_path / "mediaeval2016").mkdir()
    assert resolve_slots([TWITTER], tmp_path)[0].dataset == NAME  # --split paper is the default
    assert resolve_slots([TWITTER], tmp_path, "paper")[0].dataset == NAME
    for choice in ("published", "random", "event"):
        assert resolve_slots([TWITTER], tmp_path, choice)[0].dataset == "mediaeval2016"
    (tmp_path / "mediaeval2015").mkdir()  # the 2015 release itself wins under every choice
    for choice in ("paper", "published"):
        assert resolve_slots([TWITTER], tmp_path, choice)[0].dataset == "mediaeval2015"
    other = tmp_path / "other"  # a root with other data only: the missing Twitter folders are named once each
    (other / "weibo").mkdir(parents=True)
    reason = resolve_slots([TWITTER], other)[0].reason
    assert reason.count(f"{other}/mediaeval2016") == 1 and f"{other}/mediaeval2015" in reason


@pytest.mark.parametrize("suite", ["table1", "table2", "figure3"])
def test_coolant_suites_use_the_paper_split(tmp_path: Path, suite: str) -> None:
    load_plugins()
    (tmp_path / "mediaeval2016").mkdir()
    slots = [slot for slot in SUITES.get(suite).datasets if slot.id == "twitter"]
    assert resolve_slots(slots, tmp_path)[0].dataset == NAME
    assert resolve_slots(slots, tmp_path, "published")[0].dataset == "mediaeval2016"
    assert DATASETS.get(NAME).folder == "mediaeval2016" and DATASETS.get(NAME).split_choice == "paper"


def test_split_choices_map_onto_grouping_policies() -> None:
    assert grouping_policy("paper", "recovery", published=False) == "random"
    assert grouping_policy("published", "weibo", published=True) == "random"
    assert grouping_policy("grouped", "weibo", published=True) == "grouped"
    with pytest.raises(DataError, match="recovery has no published split.*--split paper"):
        grouping_policy("published", "recovery", published=False)
    with pytest.raises(DataError, match="unknown split 'outlet'"):
        grouping_policy("outlet", "recovery", published=False)
    assert "COOLANT paper's split" in split_title("paper") and split_title("published") == "published"


def test_cli_split_default_is_paper_and_published_is_a_choice() -> None:
    from benchmark.cli import build_parser
    parser = build_parser()
    assert parser.parse_args(["run", "--suite", "table2"]).split == "paper"
    assert parser.parse_args(["run", "--suite", "table2", "--split", "published"]).split == "published"
    assert parser.parse_args(["data", "check", "mediaeval2016", "--split", "published"]).split == "published"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--suite", "table2", "--split", "2015"])


def test_data_check_of_the_2016_release_prints_the_paper_split(release: Path) -> None:
    load_plugins()
    out = io.StringIO()
    assert run_data_check("mediaeval2016", release.parent, LoadOptions(validation_fraction=0.25), out=out) == 0
    text = out.getvalue()
    head, paper = text.split(f"=== --split paper: dataset {NAME}, from the same folder ===")
    assert "Dataset mediaeval2016" in head and "RESULT: OK" in head
    rows = {line.split()[0]: line.split()[1:] for line in paper.splitlines() if line.split()[:1]}
    assert rows["nepal"] == ["test", "1", "2", "3"] and rows["eclipse"] == ["test", "0", "1", "1"]
    assert rows["sandy"][0] == "train" and rows["test"] == ["4", "1", "3", "2"]
    assert f"RESULT ({NAME}): OK" in paper
    published = io.StringIO()  # the 2016 split alone: what a run under --split published reads
    assert run_data_check("mediaeval2016", release.parent, LoadOptions(split="published"), out=published) == 0
    assert "Dataset mediaeval2016" in published.getvalue() and NAME not in published.getvalue()


@pytest.mark.realdata
def test_real_paper_split_counts(shared_data: Path) -> None:
    splits = load_mediaeval2015_from_2016(shared_data / "mediaeval2016", LoadOptions())
    counts = splits.counts()
    assert counts["train"] == {"total": 10783, "fake": 6135, "real": 4648}
    assert counts["validation"] == {"total": 1048, "fake": 704, "real": 344}
    assert counts["test"] == {"total": 1932, "fake": 717, "real": 1215}
    assert _events(splits.validation) == {"boston", "columbianChemicals", "elephant", "passport", "sochi"}
    assert _events(splits.test) == {"eclipse", "garissa", "nepal", "samurai"}  # syrianboy, varoufakis: no file
    assert len({path for item in splits.test for path in item.image_paths}) == 48
    # the paper's "6,840 real + 5,007 fake" training tweets: the file holds 6,840 *fake* and 5,008 real
    assert any("development events 6,840 fake + 5,008 real, test events 2,564 fake + 1,217 real" in note
               for note in splits.notes)
    assert find_leaks(splits) == []


def test_sweep_study_names_stored_before_paper_existed_are_kept() -> None:
    from types import SimpleNamespace

    from benchmark.loading import RunOptions
    from benchmark.sweep_cli import study_name
    suite = SimpleNamespace(name="table3")

    def name(split: str) -> str:
        return study_name(suite, "bert_resnet", "wbg", "recovery", RunOptions(suite="table3", split=split,
                                                                              precision="fp32"), None, None)
    assert name("paper") == name("random") == "table3-bert_resnet-wbg-recovery"  # the same items, same study
    assert name("grouped") == "table3-bert_resnet-wbg-recovery-split-grouped"
    assert name("published").endswith("-split-published")
