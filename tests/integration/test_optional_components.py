"""The switches to a paper's real component, end to end: ``bench run --clip-path`` gives FND-CLIP real
CLIP embeddings and ``--entity-file`` gives MKEMN its knowledge channels; each enters the identity
of its own row's cells only, so other rows' stored cells stay valid."""

from __future__ import annotations

import json
import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from benchmark.cli import main  # noqa: E402
from benchmark.data.spec import LoadOptions  # noqa: E402
from benchmark.loading import RunOptions, input_keys, optional_inputs  # noqa: E402
from benchmark.registry import DATASETS, MODELS, load_plugins  # noqa: E402
from tests.tiny_clip import make_tiny_clip  # noqa: E402

load_plugins()


def test_optional_inputs_follow_the_selected_rows_and_the_flags():
    assert optional_inputs(RunOptions(suite="table1")) == ()  # nothing supplied
    assert optional_inputs(RunOptions(suite="table1", clip_path="c", entity_file="e")) == ("clip", "entities")
    assert optional_inputs(RunOptions(suite="table1", clip_path="c", entity_file="e", rows=("MKEMN",))) == ("entities",)
    assert optional_inputs(RunOptions(suite="table2", clip_path="c")) == ()  # no row reads CLIP
    assert input_keys(MODELS.get("fnd_clip")) == {"text_clip", "image_clip"}
    assert input_keys(MODELS.get("mkemn")) == {"entities"}
    assert input_keys(MODELS.get("mcnn")) == {"image_ela"}
    assert input_keys(MODELS.get("coolant")) == set()


def _configs(workdir):
    return {json.loads(p.read_text())["row"]: json.loads(p.read_text())
            for p in workdir.rglob("config.json") if "mlartifacts" in str(p)}


@pytest.mark.slow
def test_clip_path_and_entity_file_reach_their_rows(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./data: the synthetic slot
    clip = make_tiny_clip(tmp_path / "clip")
    splits = DATASETS.get("synthetic-demo").load(None, LoadOptions(seed=0))
    items = [item for _, item in splits.items()]
    assert len(items) > 20
    entities = tmp_path / "entities.jsonl"
    entities.write_text("".join(json.dumps({"item_id": item.item_id, "entities": [f"entity {k % 5}"],
                                            "concepts": ["place"]}) + "\n" for k, item in enumerate(items[::2])))
    workdir = tmp_path / "w"
    args = ["run", "--suite", "table1", "--dataset", "twitter", "--row", "FND-CLIP", "--row", "MKEMN",
            "--row", "CMC", "--seeds", "1", "--max-epochs", "1", "--limit", "40", "--jobs", "1", "--device", "cpu",
            "--workdir", str(workdir)]
    assert main(args + ["--clip-path", str(clip), "--entity-file", str(entities)]) == 0
    out = capsys.readouterr().out
    linked = re.search(rf"entity file {re.escape(str(entities))}: entities for (\d+) of (\d+) items", out)
    assert "[FAILED]" not in out and linked and 0 < int(linked[1]) < int(linked[2])
    configs = _configs(workdir)
    assert configs["FND-CLIP"]["encoders"]["text_clip"].startswith("text:clip|weights-sha1=")
    assert configs["FND-CLIP"]["encoders"]["image_clip"].startswith("image:clip|weights-sha1=")
    assert configs["MKEMN"]["encoders"]["entities"].startswith("entities:sha1=")
    assert set(configs["CMC"]["encoders"]) == {"text", "image"}
    assert "entities" not in configs["FND-CLIP"]["encoders"] and "text_clip" not in configs["MKEMN"]["encoders"]

    # without the switches CMC's cell is the same cell (skipped), the other two are new cells
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[done] FND-CLIP" in out and "[done] MKEMN" in out and "[done] CMC" not in out
