"""Entity files: a post's knowledge-graph entities and their concepts, for MKEMN's knowledge channels.

Why: MKEMN (Zhang et al., ACM MM 2019) links the words of a post to entities of a real-world knowledge
graph and reads the entities and their conceptual contexts as extra channels. No knowledge graph is
reachable offline and no entity-linked release of the datasets is public, so by default the row runs
without them ("component missing"). A user who has linked the posts (with any entity linker and
knowledge graph) passes the result as ``bench run --entity-file FILE`` and MKEMN reads them.

Format: JSON lines, one object per post::

    {"item_id": "263046056240115712", "entities": ["Hurricane Sandy", "New York City"],
     "concepts": ["hurricane", "city"]}

``item_id`` is the dataset's item id (as in ``predictions.csv``); ``entities`` a list of names;
``concepts`` (optional) a list of concept names. Each post's entities, joined by "; ", become one text
encoded by the run's text encoder (likewise its concepts). Posts absent from the file have none.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.data.schema import DataError
from benchmark.encoders.cache import sha1_file

FIELDS = ("entities", "concepts")  # per-item text names (batch keys ``<name>_tokens`` / ``_pooled`` ...)
FORMAT_VERSION = "v1"


def entity_file_identity(path: Path | str) -> str:
    """The file's content hash: two entity files never share a cell identity."""
    return f"entities:sha1={sha1_file(Path(path))}|join=semicolon|format={FORMAT_VERSION}"


def _names(value, path: Path, line: int, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{path}:{line}: {field!r} must be a list of strings, got {json.dumps(value)[:80]}; "
                        "write e.g. \"entities\": [\"Hurricane Sandy\"]")
    return [v.strip() for v in value if v.strip()]


def read_entity_file(path: Path | str) -> dict[str, dict[str, str]]:
    """``{"entities": {item_id: "A; B"}, "concepts": {...}}`` from a JSON-lines entity file.

    Errors name the file and line and say what to write; an item listed twice is refused (which of
    the two would MKEMN read?). Items with empty lists are left out (they have no entities)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: entity file not found; pass --entity-file a JSON-lines file "
                        "(see benchmark/data/entities.py for the format)")
    out: dict[str, dict[str, str]] = {name: {} for name in FIELDS}
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: not a JSON object ({exc.msg}); each line must be one object "
                                "like {\"item_id\": \"...\", \"entities\": [...]}") from exc
            if not isinstance(record, dict) or "item_id" not in record or "entities" not in record:
                raise DataError(f"{path}:{line_no}: needs the keys \"item_id\" and \"entities\" "
                                f"(got {sorted(record) if isinstance(record, dict) else type(record).__name__})")
            item_id = str(record["item_id"])
            if item_id in seen:
                raise DataError(f"{path}:{line_no}: item {item_id!r} is listed again (first on line "
                                f"{seen[item_id]}); merge its entities into one line")
            seen[item_id] = line_no
            for name in FIELDS:
                names = _names(record.get(name, []), path, line_no, name)
                if names:
                    out[name][item_id] = "; ".join(names)
    return out
