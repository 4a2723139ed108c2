"""docs/models.md names every row of table1, once, with one of the three statuses and its model."""

from __future__ import annotations

from pathlib import Path

from benchmark.registry import SUITES, load_plugins

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"
STATUSES = {"faithful", "substitute encoders", "component missing"}


def test_every_table1_row_has_one_status_line():
    load_plugins()
    lines = [line for line in DOC.read_text(encoding="utf-8").splitlines()
             if line.startswith("| ") and not line.startswith("| row ")]
    entries = {}
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] not in entries, f"docs/models.md lists {cells[0]!r} twice"
        entries[cells[0]] = cells
    rows = SUITES.get("table1").rows
    assert set(entries) == {row.label for row in rows}
    for row in rows:
        _, model, status, _ = entries[row.label]
        assert model == f"`{row.model}`" and status in STATUSES, entries[row.label]
