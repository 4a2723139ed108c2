"""MediaEval adapters on small files in the published formats, and on the real 2016 release if present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from benchmark.data.mediaeval import event_of, load_mediaeval2015, load_mediaeval2016
from benchmark.data.schema import DataError
from benchmark.data.spec import LoadOptions
from benchmark.data.textio import read_table

DEV_HEADER = "post_id\tpost_text\tuser_id\timage_id(s)\tusername\ttimestamp\tlabel"
TEST_HEADER = "post_id\tpost_text\tuser_id\tusername\timage_id\ttimestamp\tlabel"  # 2016 test order
TS = "Wed Apr 17 18:57:37 +0000 2013"


def _shared_data() -> Path:
    override = os.environ.get("BENCH_SHARED_DATA")
    return Path(override) if override else Path(__file__).resolve().parents[4] / "shared" / "data"


def _image(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / name)


def _write_2016(root: Path) -> None:
    dev_rows = [
        f"101\tDon't need feds #bostonbombing http://t.co/x\t1\tboston_fake_03,boston_fake_35,boston_fake_02\tu1\t{TS}\tfake",
        f"102\tBoston real photo\t2\tboston_real_01\tu2\t{TS}\treal",
        f"103\tSandy shark 🦈 in the street\t3\tsandyA_fake_12\tu3\t{TS}\tfake",
        f"104\tSandy flooding, real\t4\tsandyA_real_12\tu4\t{TS}\treal",
        f"105\tNepal quake image\t5\tnepal_01\tu5\t{TS}\treal",
        f"106\tNepal fake child photo\t6\tnepal_02\tu6\t{TS}\tfake",
        f"107\tImage gone\t7\tmalaysia_fake_99\tu7\t{TS}\tfake",     # line 8: missing image
        f"108\tWhat is this\t8\tnepal_01\tu8\t{TS}\tmaybe",           # line 9: unknown label
        f"105\tRetweet with the same id\t5\tnepal_01\tu5\t{TS}\treal",  # line 10: duplicate id
        f"109\tstray\ttab\t9\tnepal_01\tu9\t{TS}\treal",               # line 11: 8 columns
        f"110\tMalaysia plane\t10\tmalaysia_real_01\tu10\t{TS}\treal",
        f"111\tMalaysia hoax\t11\tmalaysia_fake_01\tu11\t{TS}\tfake",
    ]
    test_rows = [
        f"201\tRussian airstrikes\t20\tAlexArtAndros\tairstrikes_1\t{TS}\tfake",
        f"202\tParis attacks real\t21\tsomeone\tattacks_paris_1\t{TS}\treal",
        f"203\tNo file for this one\t22\tother\teagle_kid_1\t{TS}\tfake",
    ]
    (root / "devset").mkdir(parents=True)
    (root / "testset").mkdir(parents=True)
    (root / "devset" / "posts.txt").write_text("\n".join([DEV_HEADER, *dev_rows]), encoding="utf-8")
    (root / "testset" / "posts_groundtruth.txt").write_text("\n".join([TEST_HEADER, *test_rows]) + "\n",
                                                            encoding="utf-8")
    for name in ("boston_fake_03.jpg", "boston_fake_02.png", "boston_real_01.jpg", "sandyA_fake_12.gif",
                 "sandyA_real_12.jpeg", "nepal_01.jpg", "nepal_02.jpg", "malaysia_real_01.jpg",
                 "malaysia_fake_01.jpg"):
        _image(root / "devset" / "images", name)
    for name in ("airstrikes_1.jpg", "attacks_paris_1.png"):
        _image(root / "testset" / "images", name)


@pytest.fixture()
def release(tmp_path: Path) -> Path:
    root = tmp_path / "mediaeval2016"
    _write_2016(root)
    return root


def test_event_of() -> None:
    assert event_of("boston_fake_03") == "boston"
    assert event_of("sandyA_real_12") == "sandyA"
    assert event_of("airstrikes_1") == "airstrikes"


def test_drop_policy_and_problems(release: Path) -> None:
    splits = load_mediaeval2016(release, LoadOptions(on_missing_image="drop", validation_fraction=0.25))
    ids = {i.item_id for _, i in splits.items()}
    assert ids == {"101", "102", "103", "104", "105", "106", "110", "111", "201", "202"}
    dev_file, test_file = str(release / "devset" / "posts.txt"), str(release / "testset" / "posts_groundtruth.txt")
    by_line = {(p.file, p.line): p for p in splits.problems}
    assert "malaysia_fake_99" in by_line[(dev_file, 8)].reason and by_line[(dev_file, 8)].item_id == "107"
    assert "unknown label 'maybe'" in by_line[(dev_file, 9)].reason
    assert "duplicate post id 105" in by_line[(dev_file, 10)].reason
    assert "expected 7 columns" in by_line[(dev_file, 11)].reason and "found 8" in by_line[(dev_file, 11)].reason
    assert "eagle_kid_1" in by_line[(test_file, 4)].reason
    assert by_line[(dev_file, 11)].severity == "error"  # the row's record is lost, not a policy's choice
    assert all(p.severity == "warning" for k, p in by_line.items() if k != (dev_file, 11)) and len(splits.problems) == 5
    # both column orders read by name: test file has image_id in column 5
    test = {i.item_id: i for i in splits.test}
    assert test["201"].image_path.name == "airstrikes_1.jpg" and test["201"].event == "airstrikes"
    assert test["202"].label == 0 and test["201"].label == 1 and test["201"].text == "Russian airstrikes"
    # multi-image tweet keeps the found images in listed order
    item = next(i for _, i in splits.items() if i.item_id == "101")
    assert [p.name for p in item.image_paths] == ["boston_fake_03.jpg", "boston_fake_02.png"]
    assert item.text == "Don't need feds #bostonbombing http://t.co/x" and item.language is None
    # events: validation carved from dev by whole events, test events disjoint from dev
    train_events = {i.event for i in splits.train}
    validation_events = {i.event for i in splits.validation}
    assert validation_events and not train_events & validation_events
    assert not (train_events | validation_events) & {i.event for i in splits.test}
    assert {i.event for _, i in splits.items()} == {"boston", "sandyA", "nepal", "malaysia", "airstrikes", "attacks"}


def test_blank_policy_keeps_tweets_without_images(release: Path) -> None:
    splits = load_mediaeval2016(release, LoadOptions(on_missing_image="blank"))
    items = {i.item_id: i for _, i in splits.items()}
    assert items["107"].image_paths == () and items["107"].event == "malaysia"
    assert items["203"].image_paths == ()
    assert len(items) == 12


def test_error_policy_names_file_line_and_fix(release: Path) -> None:
    with pytest.raises(DataError) as caught:
        load_mediaeval2016(release, LoadOptions(on_missing_image="error"))
    message = str(caught.value)
    assert "posts_groundtruth.txt:4" in message and "eagle_kid_1" in message  # test file is read first
    assert "--on-missing-image drop" in message


def test_missing_header_column_and_missing_folder(tmp_path: Path, release: Path) -> None:
    dev = release / "devset" / "posts.txt"
    dev.write_text("post_id\tpost_text\tlabel\n1\tx\tfake\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"posts\.txt:1: header lacks column\(s\) image_ids"):
        load_mediaeval2016(release, LoadOptions())
    with pytest.raises(DataError, match="not found"):
        load_mediaeval2016(tmp_path / "nowhere", LoadOptions())


def test_2015_layout_and_humor(tmp_path: Path) -> None:
    root = tmp_path / "mediaeval2015"
    header = "tweetId\ttweetText\tuserId\timageId(s)\tusername\ttimestamp\tlabel"
    dev = [f"1\tsandy shark\t1\tsandyA_fake_01\tu\t{TS}\tfake", f"2\tsandy real\t2\tsandyA_real_01\tu\t{TS}\treal",
           f"3\tlol\t3\tsandyA_fake_01\tu\t{TS}\thumor", f"4\tboston\t4\tboston_fake_01\tu\t{TS}\tfake",
           f"5\tboston real\t5\tboston_real_01\tu\t{TS}\treal"]
    test = [f"9\tsochi\t9\tsochi_fake_01\tu\t{TS}\tfake", f"8\tsochi real\t8\tsochi_real_01\tu\t{TS}\treal"]
    (root / "devset").mkdir(parents=True)
    (root / "testset").mkdir(parents=True)
    (root / "devset" / "tweets.txt").write_text("\n".join([header, *dev]) + "\n", encoding="utf-8")
    (root / "testset" / "tweets.txt").write_text("\n".join([header, *test]) + "\n", encoding="utf-8")
    for name in ("sandyA_fake_01.jpg", "sandyA_real_01.jpg", "boston_fake_01.jpg", "boston_real_01.jpg"):
        _image(root / "devset" / "images", name)
    for name in ("sochi_fake_01.jpg", "sochi_real_01.jpg"):
        _image(root / "testset" / "images", name)
    dropped = load_mediaeval2015(root, LoadOptions())
    assert dropped.name == "mediaeval2015"
    assert "3" not in {i.item_id for _, i in dropped.items()}
    assert any(p.line == 4 and "humor" in p.reason for p in dropped.problems)
    kept = load_mediaeval2015(root, LoadOptions(keep_humor=True))
    humor = next(i for _, i in kept.items() if i.item_id == "3")
    assert humor.label == 1 and not any("humor" in p.reason for p in kept.problems)
    assert {i.event for i in kept.test} == {"sochi"}


REAL_ROOT = _shared_data() / "mediaeval2016"


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_ROOT.is_dir(), reason=f"real MediaEval 2016 data not found at {REAL_ROOT} "
                    f"(set BENCH_SHARED_DATA to the shared data folder)")
def test_real_mediaeval2016() -> None:
    dev_table = read_table(REAL_ROOT / "devset" / "posts.txt")
    test_table = read_table(REAL_ROOT / "testset" / "posts_groundtruth.txt")
    assert (len(dev_table.rows), len(test_table.rows)) == (15629, 2228)
    blank = load_mediaeval2016(REAL_ROOT, LoadOptions(on_missing_image="blank"))
    counts = blank.counts()
    assert counts["train"]["total"] + counts["validation"]["total"] == 15629
    assert counts["test"] == {"total": 2228, "fake": 1230, "real": 998}
    assert not blank.problems
    splits = load_mediaeval2016(REAL_ROOT, LoadOptions())
    counts = splits.counts()
    assert counts["train"]["total"] + counts["validation"]["total"] == 13763
    assert counts["test"] == {"total": 698, "fake": 498, "real": 200}
    dev_events = {i.event for i in splits.train} | {i.event for i in splits.validation}
    assert not dev_events & {i.event for i in splits.test}
    assert not {i.event for i in splits.train} & {i.event for i in splits.validation}
    assert 0.05 <= counts["validation"]["total"] / 13763 <= 0.2
    assert all(p.severity == "warning" and "tweet dropped" in p.reason for p in splits.problems)
    assert all(path.is_file() for _, item in splits.items() for path in item.image_paths)
