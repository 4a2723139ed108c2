"""A run on data whose test split repeats training posts is refused, naming the overlapping items."""

from __future__ import annotations

import pytest

from PIL import Image

from benchmark.cli import main

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow

DEV_HEADER = "post_id\tpost_text\tuser_id\timage_id(s)\tusername\ttimestamp\tlabel\n"
TEST_HEADER = "post_id\tpost_text\tuser_id\tusername\timage_id\ttimestamp\tlabel\n"


def _write_mediaeval2016(root):
    for split in ("devset", "testset"):
        (root / split / "images").mkdir(parents=True)
    rows = []
    for k in range(12):
        event = "alpha" if k < 6 else "beta"
        label = "fake" if k % 2 else "real"
        image = f"{event}_{label}_{k}"
        Image.new("RGB", (32, 32), (20 * k, 40, 90)).save(root / "devset" / "images" / f"{image}.jpg")
        rows.append(f"{100 + k}\tpost number {k} about {event}\t1\t{image}\tu\tMon\t{label}\n")
    (root / "devset" / "posts.txt").write_text(DEV_HEADER + "".join(rows), encoding="utf-8")
    test_rows = []
    for k in range(4):
        label = "fake" if k % 2 else "real"
        image = f"gamma_{label}_{k}"
        Image.new("RGB", (32, 32), (90, 20 * k, 40)).save(root / "testset" / "images" / f"{image}.jpg")
        text = "post number 3 about alpha" if k == 1 else f"fresh test post {k}"  # k == 1 repeats dev post 103
        test_rows.append(f"{900 + k}\t{text}\t2\tu\t{image}\tTue\t{label}\n")
    (root / "testset" / "posts_groundtruth.txt").write_text(TEST_HEADER + "".join(test_rows), encoding="utf-8")


def test_leaking_split_is_refused_before_training(tmp_path, capsys):
    data = tmp_path / "data"
    _write_mediaeval2016(data / "mediaeval2016")
    code = main(["run", "--suite", "table2", "--data-root", str(data), "--workdir", str(tmp_path / "w"),
                 "--row", "COOLANT", "--dataset", "twitter", "--seeds", "1", "--max-epochs", "1", "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 2
    assert "overlap between training/validation and test" in captured.err
    assert "103" in captured.err and "901" in captured.err  # both overlapping posts are named
    assert "--allow-leaks" in captured.err
    assert "--split grouped" in captured.err  # the leak-free fix is named
    assert "[cell]" not in captured.out  # nothing was trained
