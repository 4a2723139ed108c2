"""Weibo adapter on small folders written in the published three-lines-per-post format."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from benchmark.data.schema import DataError, FAKE, REAL
from benchmark.data.spec import LoadOptions
from benchmark.data.weibo import load_weibo, read_weibo_file


def meta(post_id: str, n_fields: int = 15) -> str:
    fields = [post_id, "user", "http://weibo.com/1/abc", "http://weibo.com/u/1", "2013-01-01 10:00",
              "false", "3", "4", "5", "123", "0", "100", "50", "300", "iPhone"]
    if n_fields <= len(fields):
        return "|".join(fields[:n_fields])
    return "|".join(fields + ["x"] * (n_fields - len(fields)))


def post(post_id: str, images: list[str], text: str, n_fields: int = 15) -> str:
    urls = "|".join(f"http://ww1.sinaimg.cn/mw690/{name}" for name in images) + "|null"
    return f"{meta(post_id, n_fields)}\n{urls}\n{text}\n"


def image(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(path, format="JPEG")


def write_weibo(root: Path, n: int = 10) -> Path:
    """A good folder: n rumours and n non-rumours in train, 3 + 3 in test, one image each."""
    tweets = root / "tweets"
    tweets.mkdir(parents=True)
    for split, count in (("train", n), ("test", 3)):
        for kind, folder in (("rumor", "rumor_images"), ("nonrumor", "nonrumor_images")):
            body = ""
            for k in range(count):
                pid = f"{'1' if kind == 'rumor' else '2'}{'0' if split == 'train' else '9'}{k:05d}00"
                name = f"img{pid}.jpg"
                image(root / folder / name, (k * 20 % 255, 40 if split == "train" else 140, 200 if kind == "rumor" else 10))
                body += post(pid, [name], f"{split}{kind}微博内容{k}")
            (tweets / f"{split}_{kind}.txt").write_text(body, encoding="utf-8")
    return root


def test_good_folder_labels_splits_and_images(tmp_path: Path) -> None:
    root = write_weibo(tmp_path / "weibo")
    splits = load_weibo(root, LoadOptions(seed=3, validation_fraction=0.2))
    assert splits.language == "zh" and splits.problems == []
    assert len(splits.test) == 6 and len(splits.train) + len(splits.validation) == 20
    assert {i.label for i in splits.validation} == {FAKE, REAL}  # stratified
    rumour = next(i for _, i in splits.items() if i.item_id.startswith("10"))  # a train rumour
    assert rumour.label == FAKE and rumour.language == "zh"
    assert rumour.image_path is not None and rumour.image_path.parent.name == "rumor_images"
    assert rumour.image_path.name == f"img{rumour.item_id}.jpg"
    again = load_weibo(root, LoadOptions(seed=3, validation_fraction=0.2))
    assert [i.item_id for i in again.validation] == [i.item_id for i in splits.validation]


def test_wrong_field_count_is_reported_and_reader_resynchronises(tmp_path: Path) -> None:
    path = tmp_path / "train_rumor.txt"
    path.write_text(post("11111111", ["a.jpg"], "第一条") + post("22222222", ["b.jpg"], "坏的", n_fields=14)
                    + post("33333333", ["c.jpg"], "第三条"), encoding="utf-8")
    problems: list = []
    posts = read_weibo_file(path, FAKE, problems)
    assert [p.post_id for p in posts] == ["11111111", "33333333"]
    assert posts[1].text == "第三条" and posts[1].line == 7
    assert len(problems) == 1 and problems[0].line == 4
    assert "14 '|'-separated field(s), expected 15" in problems[0].reason
    assert str(problems[0]).startswith(f"{path}:4:")


def test_url_line_with_fourteen_urls_is_not_taken_for_metadata(tmp_path: Path) -> None:
    path = tmp_path / "train_rumor.txt"
    path.write_text(post("11111111", [f"x{k}.jpg" for k in range(14)], "很多图片"), encoding="utf-8")
    problems: list = []
    posts = read_weibo_file(path, FAKE, problems)
    assert len(posts) == 1 and len(posts[0].image_urls) == 14 and problems == []


def test_non_utf8_bytes_and_empty_text(tmp_path: Path) -> None:
    root = write_weibo(tmp_path / "weibo", n=4)
    path = root / "tweets" / "train_rumor.txt"
    image(root / "rumor_images" / "bad.jpg")
    image(root / "rumor_images" / "empty.jpg")
    extra = (post("55555555", ["bad.jpg"], "XX").replace("XX", "\x00").encode("utf-8").replace(b"\x00", b"caf\xe9 \xff")
             + post("66666666", ["empty.jpg"], "").encode("utf-8"))
    path.write_bytes(path.read_bytes() + extra)
    splits = load_weibo(root, LoadOptions())
    items = {i.item_id: i for _, i in splits.items()}
    assert "\ufffd" in items["55555555"].text
    assert items["66666666"].text == ""
    reasons = [str(p) for p in splits.problems]
    assert any(f"{path}:15:" in r and "non-UTF-8" in r for r in reasons)
    assert any(f"{path}:18:" in r and "empty text" in r for r in reasons)
    assert all(p.severity == "warning" for p in splits.problems)


@pytest.mark.parametrize("policy", ["drop", "blank", "error"])
def test_missing_images_follow_the_policy(tmp_path: Path, policy: str) -> None:
    root = write_weibo(tmp_path / "weibo", n=4)
    path = root / "tweets" / "train_nonrumor.txt"
    path.write_text(path.read_text(encoding="utf-8") + post("77777777", ["gone.jpg"], "没有图片"), encoding="utf-8")
    options = LoadOptions(on_missing_image=policy)
    if policy == "error":
        with pytest.raises(DataError) as info:
            load_weibo(root, options)
        message = str(info.value)
        assert "77777777" in message and f"{path}:13" in message and "--on-missing-image drop" in message
        return
    splits = load_weibo(root, options)
    items = {i.item_id: i for _, i in splits.items()}
    [problem] = [p for p in splits.problems if p.item_id == "77777777"]
    assert problem.severity == "warning" and problem.line == 13 and policy in problem.reason
    if policy == "drop":
        assert "77777777" not in items
    else:
        assert items["77777777"].image_paths == () and items["77777777"].label == REAL


def test_image_in_the_other_folder_and_by_stem_is_found(tmp_path: Path) -> None:
    root = write_weibo(tmp_path / "weibo", n=4)
    image(root / "nonrumor_images" / "moved.jpg")
    image(root / "rumor_images" / "renamed.png")
    path = root / "tweets" / "train_rumor.txt"
    path.write_text(path.read_text(encoding="utf-8") + post("88888888", ["moved.jpg"], "挪了")
                    + post("99999999", ["renamed.jpg"], "改名"), encoding="utf-8")
    items = {i.item_id: i for _, i in load_weibo(root, LoadOptions()).items()}
    assert items["88888888"].image_path == root / "nonrumor_images" / "moved.jpg"
    assert items["99999999"].image_path == root / "rumor_images" / "renamed.png"


def test_duplicate_ids_are_reported(tmp_path: Path) -> None:
    root = write_weibo(tmp_path / "weibo", n=4)
    rumour = root / "tweets" / "train_rumor.txt"
    first_id = rumour.read_text(encoding="utf-8").split("|", 1)[0]
    nonrumour = root / "tweets" / "train_nonrumor.txt"
    image(root / "nonrumor_images" / "dup.jpg")
    nonrumour.write_text(nonrumour.read_text(encoding="utf-8") + post(first_id, ["dup.jpg"], "重复"), encoding="utf-8")
    splits = load_weibo(root, LoadOptions())
    [problem] = [p for p in splits.problems if p.item_id == first_id]
    assert problem.severity == "error" and "conflicting label" in problem.reason and problem.line == 13
    assert sum(i.item_id == first_id for _, i in splits.items()) == 1


def test_missing_file_and_folder_give_clear_errors(tmp_path: Path) -> None:
    root = write_weibo(tmp_path / "weibo", n=4)
    (root / "tweets" / "test_rumor.txt").unlink()
    with pytest.raises(DataError, match="test_rumor.txt: Weibo file missing"):
        load_weibo(root, LoadOptions())
    with pytest.raises(DataError, match="<data_root>/weibo"):
        load_weibo(tmp_path / "nowhere", LoadOptions())


def test_truncated_file_reports_the_last_post(tmp_path: Path) -> None:
    path = tmp_path / "test_rumor.txt"
    path.write_text(post("11111111", ["a.jpg"], "好") + meta("22222222") + "\n", encoding="utf-8")
    problems: list = []
    posts = read_weibo_file(path, FAKE, problems)
    assert [p.post_id for p in posts] == ["11111111"]
    assert problems[0].line == 4 and "file ends" in problems[0].reason and problems[0].severity == "error"
