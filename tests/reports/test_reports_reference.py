"""reports.reference: published COOLANT cells and the NovEmoFake stated differences."""

from __future__ import annotations

import re

import pytest

from reports.reference import (NOVEMOFAKE_CLAIMS, REFERENCE_DIR, load_reference, paper_value,
                               reference_lookup)


def test_table1_values():
    assert paper_value("coolant_table1", "twitter", "COOLANT", "accuracy") == pytest.approx(0.900)
    assert paper_value("coolant_table1", "weibo", "FND-CLIP", "real_recall") == pytest.approx(0.901)
    assert paper_value("coolant_table1", "twitter", "EANN", "fake_precision") == pytest.approx(0.810)


def test_table2_variant_rows():
    assert paper_value("coolant_table2", "weibo", "w/o ITM", "fake_f1") == pytest.approx(0.912)
    assert paper_value("coolant_table2", "twitter", "w/o AGU", "real_f1") == pytest.approx(0.901)
    # Table 2 has no precision columns
    assert paper_value("coolant_table2", "twitter", "COOLANT", "fake_precision") is None


def test_absent_cells_are_none_and_unknown_table_fails():
    assert paper_value("coolant_table1", "twitter", "FND-CLIP", "accuracy") is None  # weibo only
    assert paper_value("coolant_table1", "fakeddit", "COOLANT", "accuracy") is None
    assert paper_value("coolant_table1", "twitter", "COOLANT", "dataset") is None
    with pytest.raises(KeyError, match="known"):
        load_reference("coolant_table9")


def test_reference_lookup_binds_table():
    ref = reference_lookup("coolant_table2")
    assert ref("twitter", "w/o ITC", "accuracy") == pytest.approx(0.871)
    assert ref("twitter", "EANN", "accuracy") is None


def test_every_table_row_is_unique_and_complete():
    for table, n in (("coolant_table1", 20), ("coolant_table2", 12)):
        df = load_reference(table)
        assert len(df) == n
        assert not df.drop(columns=["dataset", "row"]).isna().any().any()


def test_novemofake_claims_match_the_facts_file():
    facts = (REFERENCE_DIR / "novemofake_facts.md").read_text(encoding="utf-8")
    stated = {float(x) for x in re.findall(r"\+(\d+\.\d+)", facts)}
    stated |= {float(x) for x in re.findall(r"/ \+?(\d+\.\d+) accuracy", facts)}
    for claim in NOVEMOFAKE_CLAIMS:
        assert claim.points in stated, claim
        assert claim.metric == "accuracy" and claim.dataset == "novemofake"
        assert f"{claim.points:g}" in claim.claim or f"{claim.points:.2f}" in claim.claim
    assert {c.points for c in NOVEMOFAKE_CLAIMS} == {16.06, 9.9, 11.58, 7.10, 9.48, 10.11, 1.92, 1.75}
    pmne_pm = [c for c in NOVEMOFAKE_CLAIMS if c.row_b == "PM (BERT+ResNet)"][0]
    assert pmne_pm.row_a == "PMNE (BERT+ResNet)" and pmne_pm.points == 11.58
    assert pmne_pm.label == "PMNE (BERT+ResNet) − PM (BERT+ResNet)"
