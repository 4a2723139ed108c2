"""``bench run --split``: the split is part of a cell (identity, tags, config.json, table header), and
a background-knowledge row on a dataset without ``sources.jsonl`` is 'not available', not a crash."""

from __future__ import annotations

import pytest

import csv
from pathlib import Path

from PIL import Image

from benchmark.cli import main
from reports.store import load_records

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow

COLUMNS = ["news_id", "url", "publisher", "publish_date", "author", "title", "image", "body_text",
           "political_bias", "country", "reliability"]


def write_recovery(root: Path, n_publishers: int = 8, per_publisher: int = 6) -> None:
    """A ReCOVery-layout folder: labels per publisher; stock photos reused, each by two outlets."""
    (root / "images").mkdir(parents=True)
    for s in range(3):
        Image.new("RGB", (16, 16), (10, 200, 60 * s)).save(root / "images" / f"stock{s}.jpg")
    rows = []
    for p in range(n_publishers):
        reliable = p % 2
        for k in range(per_publisher):
            news_id = f"n{p}-{k}"
            name = f"stock{p // 2}.jpg" if (k < 2 and p < 6) else f"{news_id}.jpg"
            if not name.startswith("stock"):
                Image.new("RGB", (16, 16), (p * 30 % 256, k * 40 % 256, 90)).save(root / "images" / name)
            rows.append({"news_id": news_id, "url": f"https://outlet{p}.example/{k}", "publisher": f"outlet{p}",
                         "publish_date": "2020-03-01", "author": "", "title": f"Outlet {p} story {k}",
                         "image": f"https://cdn.example/{name}",
                         "body_text": f"{'Verified' if reliable else 'Shocking'} report number {k} from outlet {p}.",
                         "political_bias": "", "country": "USA", "reliability": str(reliable)})
    with open(root / "recovery-news-data.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _run(data: Path, workdir: Path, split: str) -> int:
    return main(["run", "--suite", "table4", "--data-root", str(data), "--workdir", str(workdir),
                 "--dataset", "recovery", "--split", split, "--row", "Text-only (W/O BG)",
                 "--row", "Text-only (WBG)", "--seeds", "1", "--max-epochs", "1", "--device", "cpu"])


def test_split_is_recorded_per_cell_and_background_rows_are_not_available(tmp_path, capsys):
    data, workdir = tmp_path / "data", tmp_path / "w"
    write_recovery(data / "recovery")
    assert _run(data, workdir, "publisher") == 0
    out = capsys.readouterr().out
    assert "[Text-only (WBG) | ReCOVery] not available: no public background sources for ReCOVery" in out
    assert "[done] Text-only (W/O BG) | ReCOVery" in out and "[FAILED]" not in out

    (record,) = load_records(workdir, "table4")
    assert record.tags["split"] == "publisher" and record.tags["cluster_unit"] == "publisher"
    # what explains a same-seed difference between two runs: the features' content and the machine
    features = record.tags["features_fingerprint"]
    assert len(features) == 16 and record.tags["machine.cpu"] and record.tags["machine.torch_threads"].isdigit()
    assert any(note.startswith("split=publisher") for note in record.params["split_notes"])
    assert any(note.startswith("label balance:") for note in record.params["split_notes"])
    table = (workdir / "reports" / "table4" / "table.md").read_text(encoding="utf-8")
    assert "- Design: recovery: publisher split (cluster unit publisher)" in table
    assert f"- Features: recovery: {features}" in table and "- Machine: recovery: " in table
    wbg = next(line for line in table.splitlines() if line.startswith("| Text-only (WBG)"))
    assert "not available: no public background sources for ReCOVery" in wbg

    # another split is another cell: nothing is skipped as finished
    assert _run(data, workdir, "grouped") == 0
    out = capsys.readouterr().out
    assert "[skip]" not in out and "[done] Text-only (W/O BG) | ReCOVery" in out
    table = (workdir / "reports" / "table4" / "table.md").read_text(encoding="utf-8")
    assert "- Design: recovery: grouped split (cluster unit publisher)" in table
    from benchmark.tracking import Tracker
    prints = {r.data.tags["split"]: r.data.tags["features_fingerprint"] for r in Tracker(workdir).cell_runs("table4")
              if "features_fingerprint" in r.data.tags}
    assert prints["publisher"] == features and prints["grouped"] != features  # other splits, other tensors

    # the paper's random split puts a reused stock photo on both sides: refused, naming the fix
    assert _run(data, workdir, "random") == 2
    captured = capsys.readouterr()
    assert "same image content (stock" in captured.err and "--split grouped" in captured.err
    assert "[cell]" not in captured.out
