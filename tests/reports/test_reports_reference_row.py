"""The paired tests' reference row: the suite's own, or its declared fallback where the reference cannot run
on any slot with results (table4's SAFE (WBG) on ReCOVery, which has no background sources)."""

from __future__ import annotations

import pytest

from pathlib import Path

from benchmark.suites import load_suite_file, parse_suite
from reports.build import reference_for

ROWS = ["SAFE (W/O BG)", "SAFE (WBG)", "EANN (W/O BG)"]
NO_BG = "no public background sources for ReCOVery"


def test_the_suites_reference_is_kept_where_it_can_run():
    assert reference_for("SAFE (WBG)", "SAFE (W/O BG)", ROWS, ["novemofake"], {}) == ("SAFE (WBG)", None)


def test_the_fallback_is_used_and_said_when_the_reference_runs_on_no_slot_with_results():
    ref, note = reference_for("SAFE (WBG)", "SAFE (W/O BG)", ROWS, ["recovery"],
                              {("recovery", "SAFE (WBG)"): NO_BG})
    assert ref == "SAFE (W/O BG)"
    assert "SAFE (WBG) is not available" in note and NO_BG in note and "fallback_reference_row" in note


def test_a_reference_that_runs_on_one_of_the_slots_is_kept():
    ref, note = reference_for("SAFE (WBG)", "SAFE (W/O BG)", ROWS, ["novemofake", "recovery"],
                              {("recovery", "SAFE (WBG)"): NO_BG})
    assert (ref, note) == ("SAFE (WBG)", None)


def test_without_a_declared_fallback_the_reference_stays():
    assert reference_for("SAFE (WBG)", None, ROWS, ["recovery"], {("recovery", "SAFE (WBG)"): NO_BG}) == \
        ("SAFE (WBG)", None)


def test_table4_declares_its_fallback_and_a_wrong_label_is_refused():
    assert load_suite_file(Path(__file__).resolve().parents[2] / "benchmark" / "suites" / "table4.yaml").fallback_reference_row == "SAFE (W/O BG)"
    spec = {"name": "t", "title": "t", "rows": [{"label": "A", "model": "m"}],
            "datasets": [{"id": "d", "synthetic": "s"}], "reference_row": "A", "fallback_reference_row": "B"}
    with pytest.raises(ValueError, match="fallback_reference_row 'B' is not in rows"):
        parse_suite(spec)
