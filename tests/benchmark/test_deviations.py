"""Deviations are data: the generated docs/deviations.md is current, and every suite row has its entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.deviations import Deviation, deviations_for, footnote_lines, render_document
from benchmark.registry import MODELS, SUITES, load_plugins

ROOT = Path(__file__).resolve().parents[2]
TABLE_SUITES = [f"table{i}" for i in range(1, 8)]


@pytest.fixture(scope="module", autouse=True)
def _plugins():
    load_plugins()


def _rows(suite_name: str) -> list[tuple[str, str, str, dict]]:
    suite = SUITES.get(suite_name)
    rows = [(r.label, r.model, r.variant, r.overrides) for r in suite.rows]
    if suite.study:  # the sweep suite (table3): its study model is its row
        rows.append(("study", suite.study["model"], suite.study.get("variant", "default"), {}))
    return rows


def test_committed_document_is_up_to_date():
    committed = (ROOT / "docs" / "deviations.md").read_text(encoding="utf-8")
    assert committed == render_document(), (
        "docs/deviations.md is stale: run `python -m benchmark.deviations > docs/deviations.md`")


@pytest.mark.parametrize("suite_name", TABLE_SUITES)
def test_every_row_of_every_table_suite_has_deviations(suite_name):
    rows = _rows(suite_name)
    assert rows, suite_name
    for label, model, variant, _ in rows:
        declared = deviations_for(model, variant)
        assert declared and all(isinstance(d, Deviation) for d in declared), f"{suite_name}: {label}"
        assert all(d.topic and d.paper and d.ours for d in declared), f"{suite_name}: {label}"


def test_every_registered_model_declares_deviations_in_the_document():
    document = render_document()
    for name in MODELS.names():
        assert MODELS.get(name).deviations, name
        assert f"## {name}: " in document
        for d in MODELS.get(name).deviations:
            assert d.topic.replace("|", "\\|") in document


def test_footnotes_name_model_once_variant_extras_and_overrides():
    lines = footnote_lines([("COOLANT", "coolant", "default", {}),
                            ("COOLANT (as released)", "coolant", "as_released", {}),
                            ("PMNE (VisualBERT)", "novemofake", "pmne_visualbert", {"pretrain_epochs": 10})])
    assert sum(line.startswith("Deviations of coolant (rows COOLANT, COOLANT (as released))") for line in lines) == 1
    assert any("KL target (Eq. 14)" in line for line in lines)
    assert any(line.startswith("Deviations of COOLANT (as released) (coolant:as_released)")
               and "as-released detection inputs" in line for line in lines)
    assert any("suite overrides pretrain_epochs=10" in line for line in lines)
    assert not any(line.startswith("Deviations of COOLANT (coolant:default)") for line in lines)
    assert lines[-1].endswith("docs/deviations.md.")
    assert footnote_lines([]) == []


def test_report_lists_the_deviations_of_its_rows(tmp_path):
    from reports.build import suite_tables
    from reports.render import render_markdown
    text = render_markdown(suite_tables(SUITES.get("table2"), tmp_path)[0][1])
    assert ("Deviations of coolant (rows COOLANT, w/o ITM, w/o ITC, w/o CMF, w/o ATT, w/o AGU, "
            "COOLANT (free attention), w/o AGU (free attention))") in text
    assert "w/o ATT and guidance" in text and "docs/deviations.md" in text


# the released file each model was last read against line by line (issue 25); a model re-read against
# other files (or a new commit) changes this list on purpose
CHECKED_AGAINST = {
    "coolant": ("wishever/COOLANT twitter/mymodel.py@4dead9ba5442", "wishever/COOLANT twitter/clip.py@4dead9ba5442",
                "wishever/COOLANT twitter/twitter.py@4dead9ba5442", "wishever/COOLANT twitter/SENet.py@4dead9ba5442"),
    "cafe": ("cyxanna/CAFE model.py@75610c746982", "cyxanna/CAFE train.py@75610c746982"),
    "eann": ("yaqingwang/EANN-KDD18 src/EANN.py@dc1faf30368a",),
    "mvae": ("dhruvkhattar/MVAE mvae.py@159b180a76b5",),
}


@pytest.mark.parametrize("model", sorted(CHECKED_AGAINST))
def test_models_name_the_released_files_they_were_checked_against(model):
    assert MODELS.get(model).checked_against == CHECKED_AGAINST[model]
    document = render_document()
    section = document.split(f"## {model}: ", 1)[1].split("\n## ", 1)[0]
    for source in CHECKED_AGAINST[model]:
        assert f"`{source}`" in section, (model, source)
