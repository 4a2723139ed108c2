"""`bench data check`: counts, image health, leaks and exit codes, on folders the tests write."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from benchmark.data.check import (assert_no_leaks, check_dataset, find_leaks, format_check_report, main,
                                  normalise_text, run_data_check)
from benchmark.data.schema import DataError, DatasetSplits, NewsItem
from benchmark.data.spec import LoadOptions

from test_data_b_weibo import post, write_weibo


def png(path: Path, shade: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (10, 10), (shade, shade, 0)).save(path, format="PNG")
    return path


def truncated_jpeg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.effect_noise((64, 64), 50).convert("RGB").save(path, format="JPEG", quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def item(item_id: str, text: str, label: int = 0, images: tuple[Path, ...] = ()) -> NewsItem:
    return NewsItem(item_id, text, images, label)


def test_normalise_text() -> None:
    assert normalise_text("  Hello\n\tWORLD  ") == "hello world" and normalise_text(None) == ""


def test_find_leaks_names_overlapping_items(tmp_path: Path) -> None:
    a = png(tmp_path / "a.png", 10)
    b = png(tmp_path / "copy_of_a.png", 10)  # same bytes, another name
    c = png(tmp_path / "c.png", 200)
    splits = DatasetSplits(
        "toy",
        train=[item("p1", "Same   Text here"), item("p2", "only train", images=(a,)), item("p3", "x", 1, (c,))],
        validation=[item("v1", "validation text")],
        test=[item("p1", "another text"), item("t2", "same text HERE", 1), item("t3", "y", images=(b,)),
              item("t4", "Validation text")],
    )
    leaks = find_leaks(splits)
    reasons = [p.reason for p in leaks]
    assert "leak: post id p1 is in both train and test" in reasons
    assert any("same text in train (p1) and test (t2)" in r for r in reasons)
    assert any("same image content" in r and "train (p2)" in r and "test (t3)" in r for r in reasons)
    assert any("same text in validation (v1) and test (t4)" in r for r in reasons)
    assert len(leaks) == 4 and all(p.severity == "error" for p in leaks)
    with pytest.raises(DataError) as info:
        assert_no_leaks(splits, allow=False)
    assert "4 item(s) overlap" in str(info.value) and "--allow-leaks" in str(info.value) and "p2" in str(info.value)
    assert len(assert_no_leaks(splits, allow=True)) == 4
    clean = DatasetSplits("clean", [item("a", "one")], [], [item("b", "two")])
    assert find_leaks(clean) == [] and assert_no_leaks(clean, allow=False) == []


def test_check_dataset_counts_images_and_duplicates(tmp_path: Path) -> None:
    good = png(tmp_path / "good.png", 1)
    bad = truncated_jpeg(tmp_path / "cut.jpg")
    gone = tmp_path / "gone.png"
    splits = DatasetSplits(
        "toy",
        train=[item("a", "t1", 1, (good,)), item("a", "t2", 0, (bad,)), item("c", "t3", 0)],
        validation=[item("d", "t4", 1, (good,))],
        test=[item("e", "t5", 0, (gone,)), NewsItem("f", "t6", (good,), 1, source_image_paths=(bad,))],
        root=tmp_path,
    )
    report = check_dataset(splits)
    assert report.counts["train"] == {"total": 3, "fake": 1, "real": 2}
    train = report.images["train"]
    assert (train.found, train.missing, train.unreadable, train.items_without_image) == (1, 0, 1, 1)
    test = report.images["test"]
    assert (test.found, test.missing, test.source_unreadable) == (1, 1, 1)
    reasons = [str(p) for p in report.errors]
    assert any("duplicate id a: 2 items in train" in r for r in reasons)
    assert any(r.startswith(f"{bad}: error: unusable image: truncated") for r in reasons)
    assert any(r.startswith(f"{gone}: error: image file missing (used by e)") for r in reasons)
    text = format_check_report(report)
    assert "RESULT: FAILED" in text and "unreadable" in text and "source images" in text


def test_run_data_check_exit_codes(tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    root = write_weibo(data_root / "weibo", n=6)
    path = root / "tweets" / "train_rumor.txt"
    path.write_text(path.read_text(encoding="utf-8") + post("70000001", ["nothere.jpg"], "缺图"), encoding="utf-8")

    out = io.StringIO()
    assert run_data_check("weibo", data_root, LoadOptions(), out=out) == 0  # warnings only
    text = out.getvalue()
    assert "RESULT: OK with 1 warning(s)" in text and f"{path}:19: warning:" in text and "70000001" in text

    out = io.StringIO()
    assert run_data_check("weibo", data_root, LoadOptions(on_missing_image="error"), out=out) == 1
    assert "could not be loaded" in out.getvalue() and "70000001" in out.getvalue()

    truncated_jpeg(next((root / "rumor_images").iterdir()))
    out = io.StringIO()
    assert run_data_check("weibo", data_root, LoadOptions(), out=out) == 1
    assert "unusable image: truncated" in out.getvalue() and "RESULT: FAILED" in out.getvalue()

    out = io.StringIO()
    assert run_data_check("wiebo", data_root, LoadOptions(), out=out) == 2
    assert "Did you mean 'weibo'" in out.getvalue()
    shutil.rmtree(root)
    out = io.StringIO()
    assert run_data_check("weibo", data_root, LoadOptions(), out=out) == 2
    assert "docs/datasets.md" in out.getvalue()


def test_leak_in_folder_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_root = tmp_path / "data"
    root = write_weibo(data_root / "weibo", n=6)
    train = (root / "tweets" / "train_nonrumor.txt").read_text(encoding="utf-8")
    test_file = root / "tweets" / "test_nonrumor.txt"
    test_file.write_text(test_file.read_text(encoding="utf-8") + train.split("\n", 3)[0] + "\n"
                         + "\n".join(train.split("\n")[1:3]) + "\n", encoding="utf-8")
    assert main(["weibo", "--data-root", str(data_root)]) == 1
    text = capsys.readouterr().out
    assert "is in both" in text and "leaks between train/validation and test: " in text


def test_problems_are_grouped_by_message_with_counts_and_lines():
    from benchmark.data.check import _missing_image_groups, group_problems
    from benchmark.data.schema import Problem
    reason = "image(s) sandy_real_6 not found in imgs (no <image_id>.<ext> file); tweet dropped"
    problems = [Problem("posts.txt", line, reason, "warning") for line in (10, 11, 12, 13, 14, 15, 16)]
    problems.append(Problem("posts.txt", 20, "image(s) boston_1 not found in imgs (no file); tweet dropped", "warning"))
    lines = group_problems(problems)
    assert len(lines) == 2
    assert lines[0] == f"posts.txt: warning: {reason} [7 rows: lines 10, 11, 12, 13, 14, ... (2 more)]"
    assert lines[1].startswith("posts.txt:20: warning: image(s) boston_1")
    assert _missing_image_groups(problems) == {"sandy_real_6": 7, "boston_1": 1}
