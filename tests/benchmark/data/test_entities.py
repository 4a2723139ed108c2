"""Entity files (--entity-file, MKEMN's knowledge channels): read by item, and every malformed line
refused with its file, line and the fix."""

from __future__ import annotations

import pytest

from benchmark.data.entities import entity_file_identity, read_entity_file
from benchmark.data.schema import DataError


def _write(tmp_path, text: str):
    path = tmp_path / "entities.jsonl"
    path.write_text(text, encoding="utf-8")
    return path


def test_entities_and_concepts_are_joined_per_item(tmp_path):
    path = _write(tmp_path, '{"item_id": "1", "entities": ["Hurricane Sandy", " New York "], "concepts": ["storm"]}\n'
                            "\n"
                            '{"item_id": 2, "entities": ["Statue of Liberty"]}\n'
                            '{"item_id": "3", "entities": []}\n')
    got = read_entity_file(path)
    assert got == {"entities": {"1": "Hurricane Sandy; New York", "2": "Statue of Liberty"},
                   "concepts": {"1": "storm"}}


@pytest.mark.parametrize("text, message", [
    ('{"item_id": "1", "entities": ["a"]}\nnot json\n', r"entities.jsonl:2: not a JSON object"),
    ('{"item_id": "1"}\n', r"entities.jsonl:1: needs the keys \"item_id\" and \"entities\""),
    ('{"item_id": "1", "entities": "Sandy"}\n', r"entities.jsonl:1: 'entities' must be a list of strings"),
    ('{"item_id": "1", "entities": ["a"], "concepts": [1]}\n', r"entities.jsonl:1: 'concepts' must be a list"),
    ('{"item_id": "7", "entities": ["a"]}\n{"item_id": "7", "entities": ["b"]}\n',
     r"entities.jsonl:2: item '7' is listed again \(first on line 1\)"),
])
def test_bad_lines_are_named(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_entity_file(_write(tmp_path, text))


def test_missing_file_and_identity(tmp_path):
    with pytest.raises(DataError, match="entity file not found; pass --entity-file"):
        read_entity_file(tmp_path / "none.jsonl")
    a = _write(tmp_path, '{"item_id": "1", "entities": ["a"]}\n')
    first = entity_file_identity(a)
    a.write_text('{"item_id": "1", "entities": ["b"]}\n')
    assert entity_file_identity(a) != first and first.startswith("entities:sha1=")
