"""The table header's Design line names the paper's split as the COOLANT paper's, per dataset slot."""

from __future__ import annotations

import pandas as pd

from reports.build import _decorate
from reports.records import CellRecord
from reports.tables import TableData


def _record(slot: str, dataset: str, split: str) -> CellRecord:
    return CellRecord(suite="table2", model="coolant", variant="default", row="COOLANT", dataset=slot,
                      dataset_name=dataset, data_source="real", seed=0, protocol="clean", metrics={},
                      predictions=pd.DataFrame(), tags={"split": split, "cluster_unit": "image"})


def test_split_line_names_the_paper_split() -> None:
    table = _decorate(TableData(title="t", header=[], columns=[], rows=[]),
                      [_record("twitter", "mediaeval2015-from-2016", "paper"), _record("weibo", "weibo", "published")])
    split = next(line for line in table.header if line.startswith("Design: "))
    assert split == ("Design: twitter: paper: the COOLANT paper's split, MediaEval 2015's events (cluster unit image); "
                     "weibo: published split (cluster unit image)")
