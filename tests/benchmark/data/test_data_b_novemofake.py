"""NovEmoFake (JSONL/CSV), ReCOVery, TI-CNN and Fauxtography adapters on small written folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from benchmark.data.novemofake import (load_fauxtography, load_novemofake, load_recovery, load_ticnn,
                                       parse_label)
from benchmark.data.schema import DataError, FAKE, REAL
from benchmark.data.spec import LoadOptions


def image(path: Path, shade: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), (shade, 50, 200)).save(path, format="PNG")


def record(k: int, label: str = "fake", **extra: object) -> dict:
    rec = {
        "id": f"t{k}", "target_text": f"Photo shows Obama in Berlin at rally {k}",
        "target_image": f"images/t{k}.png", "label": label, "origin": "fauxtography",
        "sources": [
            {"text": "Weather report for Tokyo", "image": f"images/t{k}-s0.png", "url": "https://a.example/1",
             "credibility": "high"},
            {"text": "Obama spoke in Berlin yesterday", "image": f"images/t{k}-s1.png",
             "url": "https://b.example/2", "credibility": "very high"},
        ],
    }
    rec.update(extra)
    return rec


def write_novemofake(root: Path, records: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for k, rec in enumerate(records):
        for ref in [rec.get("target_image")] + [s.get("image") for s in rec.get("sources", [])]:
            if ref:
                image(root / ref, k * 7 % 255)
    (root / "novemofake.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return root


def many(n: int = 30) -> list[dict]:
    return [record(k, "fake" if k % 3 == 0 else "real") for k in range(n)]


def test_parse_label() -> None:
    assert [parse_label(v) for v in ("fake", "REAL", 1, 0, "1", "0.0", True, False, "satire", None)] == \
        [FAKE, REAL, FAKE, REAL, FAKE, REAL, REAL, FAKE, None, None]


def test_source_selection_by_relevance_and_credibility(tmp_path: Path) -> None:
    records = many(20)
    records[1]["sources"][1]["credibility"] = "low"  # the relevant source comes from a low-credibility site
    records[2]["sources"][0]["relevant"] = "yes"  # the file's annotation wins over the R_value rule
    records[2]["sources"][1]["relevant"] = "no"
    root = write_novemofake(tmp_path / "novemofake", records)
    splits = load_novemofake(root, LoadOptions())
    items = {i.item_id: i for _, i in splits.items()}
    assert items["t0"].source_text == "Obama spoke in Berlin yesterday"  # max R_value
    assert items["t0"].source_image_path == root / "images" / "t0-s1.png"
    assert items["t0"].image_path == root / "images" / "t0.png" and items["t0"].origin == "fauxtography"
    assert items["t1"].source_text == "Weather report for Tokyo"  # only credible one, though R_value is 0
    assert items["t2"].source_text == "Weather report for Tokyo"
    reasons = [p.reason for p in splits.problems]
    assert any("t1: 1 source(s) from sites rated mixed/low" in r for r in reasons)
    assert any("share no entity" in r and "t1" in r for r in reasons)
    assert splits.has_source


def test_split_field_is_used_and_validation_carved_when_absent(tmp_path: Path) -> None:
    records = [record(k, "fake" if k % 2 else "real", split="test" if k < 6 else "train") for k in range(30)]
    root = write_novemofake(tmp_path / "novemofake", records)
    splits = load_novemofake(root, LoadOptions(seed=1))
    assert sorted(i.item_id for i in splits.test) == [f"t{k}" for k in range(6)]
    assert len(splits.validation) > 0 and len(splits.train) + len(splits.validation) == 24
    records[7]["split"] = None
    write_novemofake(tmp_path / "partial", records)
    with pytest.raises(DataError, match="'split' field is given on 29 of 30"):
        load_novemofake(tmp_path / "partial", LoadOptions())


def test_default_split_is_80_20_then_90_10_seeded_and_stratified(tmp_path: Path) -> None:
    root = write_novemofake(tmp_path / "novemofake", many(100))
    first = load_novemofake(root, LoadOptions(seed=43))
    assert (len(first.train), len(first.validation), len(first.test)) == (72, 8, 20)
    for part in (first.train, first.validation, first.test):
        assert {i.label for i in part} == {FAKE, REAL}
    again = load_novemofake(root, LoadOptions(seed=43))
    other = load_novemofake(root, LoadOptions(seed=44))
    assert again.fingerprint() == first.fingerprint() != other.fingerprint()


def test_bad_rows_are_reported(tmp_path: Path) -> None:
    records = many(12)
    records[3]["label"] = "satire"
    records[5]["id"] = "t4"  # duplicate id
    records[6]["target_text"] = ""
    root = write_novemofake(tmp_path / "novemofake", records)
    path = root / "novemofake.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[8] = b"{not json"
    lines[9] = lines[9].replace(b"Berlin at rally", b"Berl\xe9n at rally")
    path.write_bytes(b"\n".join(lines))
    splits = load_novemofake(root, LoadOptions())
    found = {(p.line, p.severity): p.reason for p in splits.problems if p.line is not None}
    assert "unknown label 'satire'" in found[(4, "error")]
    assert "duplicate id t4" in found[(6, "error")]
    assert "empty target text" in found[(7, "warning")]
    assert "not valid JSON" in found[(9, "error")]
    assert "non-UTF-8" in found[(10, "warning")]
    ids = {i.item_id for _, i in splits.items()}
    assert "t3" not in ids and "t6" in ids and "t8" not in ids and "t9" in ids


@pytest.mark.parametrize("policy", ["drop", "blank", "error"])
def test_missing_target_image_policy(tmp_path: Path, policy: str) -> None:
    root = write_novemofake(tmp_path / "novemofake", many(20))
    (root / "images" / "t4.png").unlink()
    if policy == "error":
        with pytest.raises(DataError, match=r"novemofake.jsonl:5: t4: image images/t4.png not found"):
            load_novemofake(root, LoadOptions(on_missing_image=policy))
        return
    splits = load_novemofake(root, LoadOptions(on_missing_image=policy))
    items = {i.item_id: i for _, i in splits.items()}
    assert ("t4" in items) == (policy == "blank")
    if policy == "blank":
        assert items["t4"].image_paths == () and items["t4"].has_source


def test_csv_layout_equals_jsonl(tmp_path: Path) -> None:
    records = many(20)
    root = write_novemofake(tmp_path / "novemofake", records)
    (root / "novemofake.jsonl").unlink()
    with (root / "novemofake.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        header = ["id", "target_text", "target_image", "label", "origin"]
        for k in (1, 2):
            header += [f"source{k}_{p}" for p in ("text", "image", "url", "credibility")]
        writer.writerow(header)
        for rec in records:
            row = [rec["id"], rec["target_text"], rec["target_image"], rec["label"], rec["origin"]]
            for src in rec["sources"]:
                row += [src["text"], src["image"], src["url"], src["credibility"]]
            writer.writerow(row)
    from_csv = load_novemofake(root, LoadOptions(seed=2))
    json_root = write_novemofake(tmp_path / "json", records)
    from_json = load_novemofake(json_root, LoadOptions(seed=2))
    assert from_csv.fingerprint() == from_json.fingerprint()


def test_recovery_csv(tmp_path: Path) -> None:
    root = tmp_path / "recovery"
    rows = []
    for k in range(20):
        reliability = "1" if k % 2 else "0"
        rows.append([f"n{k}", f"https://news.example/{k}", "Pub", "2020-03-01", "A, B", f"Title {k}",
                     f"https://cdn.example/img/head{k}.jpg?w=600", f"Body, with comma\nand a new line {k}",
                     "80", "high", "left", "USA", reliability])
        image(root / "images" / f"head{k}.jpg")
    rows[3][-1] = "maybe"
    root.mkdir(exist_ok=True)
    with (root / "recovery-news-data.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["news_id", "url", "publisher", "publish_date", "author", "title", "image", "body_text",
                         "news_guard_score", "mbfc_level", "political_bias", "country", "reliability"])
        writer.writerows(rows)
    (root / "sources.jsonl").write_text(
        json.dumps({"id": "n1", "sources": [{"text": "Earlier story", "image": "images/head1.jpg"}]}) + "\n"
        + json.dumps({"id": "zzz", "sources": []}) + "\n", encoding="utf-8")
    splits = load_recovery(root, LoadOptions())
    items = {i.item_id: i for _, i in splits.items()}
    assert items["n1"].label == REAL and items["n0"].label == FAKE
    assert items["n1"].text == "Title 1\nBody, with comma\nand a new line 1"
    assert items["n1"].image_path == root / "images" / "head1.jpg" and items["n1"].origin == "recovery"
    assert items["n1"].source_text == "Earlier story" and items["n2"].source_text is None
    [bad] = [p for p in splits.problems if p.item_id == "n3"]
    assert bad.severity == "error" and "unknown reliability 'maybe'; expected 1 (reliable = real)" in bad.reason and bad.line == 8
    assert any("unknown id zzz" in p.reason for p in splits.problems)


def test_ticnn_json_array(tmp_path: Path) -> None:
    root = tmp_path / "ticnn"
    records = []
    for k in range(20):
        records.append({"title": f"Headline {k}", "original_post": f"Post {k}",
                        "image_url": f"http://img.example/p/{k}.png", "type": "bs" if k % 2 else "real",
                        "label": ("fake", "real", 1, 0)[k % 4]})
        image(root / "images" / f"{k}.png")
    records[7]["label"] = "satire"
    root.mkdir(exist_ok=True)
    (root / "ticnn.json").write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n", encoding="utf-8")
    splits = load_ticnn(root, LoadOptions())
    items = {i.item_id: i for _, i in splits.items()}
    assert items["ticnn-1"].label == FAKE and items["ticnn-2"].label == REAL and items["ticnn-3"].label == FAKE
    assert items["ticnn-1"].text == "Headline 0\nPost 0" and items["ticnn-1"].origin == "ticnn"
    [bad] = [p for p in splits.problems if p.severity == "error"]
    assert bad.line == 9 and "ticnn-8: unknown label 'satire'" in bad.reason
    (root / "ticnn.json").write_text("[\n" + json.dumps(records[0]) + ",\n{\"title\": \n", encoding="utf-8")
    cut = load_ticnn(root, LoadOptions(on_missing_image="blank"))
    assert any(p.line == 3 and "not valid JSON" in p.reason for p in cut.problems)


def test_fauxtography_csv_with_source_text(tmp_path: Path) -> None:
    root = tmp_path / "fauxtography"
    root.mkdir()
    with (root / "fauxtography.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "claim_text", "image", "label", "source_text"])
        for k in range(20):
            writer.writerow([f"f{k}", f"Shark swims on Houston highway {k}", f"images/f{k}.jpg",
                             "false" if k % 2 else "true", "Hurricane Harvey photo from Houston" if k % 3 else ""])
            image(root / "images" / f"f{k}.jpg")
    splits = load_fauxtography(root, LoadOptions())
    items = {i.item_id: i for _, i in splits.items()}
    assert items["f1"].label == FAKE and items["f0"].label == REAL
    assert items["f1"].source_text == "Hurricane Harvey photo from Houston" and items["f0"].source_text is None
    assert splits.problems == []
    assert any("no sources.jsonl" in n for n in splits.notes)
