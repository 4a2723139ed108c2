"""The papers' published numbers, as the tables compare against them.

Why a module: the reference values are data (CSV files shipped beside this module in
``reports/reference/``), not constants scattered over table code, so a wrong transcription is fixed
in one place and every table picks it up. COOLANT prints its Tables 1 and 2 as text, so their cells
are kept as CSV. NovEmoFake prints its tables as images; only the differences its text states can be
checked, and they are encoded below as :data:`NOVEMOFAKE_CLAIMS` with the sentence they come from.

Units: COOLANT values are fractions (0.900 = 90.0%), like :func:`benchmark.metrics.classification_metrics`.
NovEmoFake differences are in accuracy points (the paper writes "%"; "11.58% improvement" is read
as 11.58 percentage points, the usual reading in that literature and the one in novemofake_facts.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = ["REFERENCE_DIR", "TABLES", "DifferenceClaim", "NOVEMOFAKE_CLAIMS", "load_reference",
           "paper_value", "reference_lookup"]

REFERENCE_DIR = Path(__file__).parent / "reference"

#: table name -> (CSV file, name of the column holding the row label)
TABLES: dict[str, tuple[str, str]] = {
    "coolant_table1": ("coolant_table1.csv", "method"),
    "coolant_table2": ("coolant_table2.csv", "variant"),
}


@lru_cache(maxsize=None)
def load_reference(table: str) -> pd.DataFrame:
    """The published table as a DataFrame with columns dataset, row, and one column per metric."""
    if table not in TABLES:
        raise KeyError(f"unknown reference table {table!r}; known: {sorted(TABLES)}")
    fname, row_col = TABLES[table]
    path = REFERENCE_DIR / fname
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; it ships with the package (reports/reference/). "
                                "Reinstall the package or restore the file from git.")
    df = pd.read_csv(path)
    if "dataset" not in df.columns or row_col not in df.columns:
        raise ValueError(f"{path}: expected columns 'dataset' and {row_col!r}, found {list(df.columns)}")
    df = df.rename(columns={row_col: "row"})
    dup = df.duplicated(["dataset", "row"], keep=False)
    if dup.any():
        lines = [int(i) + 2 for i in df.index[dup]]  # +1 header, +1 one-based
        raise ValueError(f"{path}: duplicate (dataset, {row_col}) on lines {lines}; keep one per pair")
    return df


def paper_value(table: str, dataset: str, row: str, metric: str) -> float | None:
    """The paper's value for one cell, or None where the paper has none (unknown row, dataset or metric).

    ``table`` is "coolant_table1" (rows are methods: "EANN", ..., "COOLANT") or "coolant_table2"
    (rows are variants: "COOLANT", "w/o ITM", "w/o ITC", "w/o CMF", "w/o ATT", "w/o AGU").
    Datasets are "twitter" and "weibo"; metrics are the benchmark.metrics names.
    """
    df = load_reference(table)
    if metric not in df.columns or metric in ("dataset", "row"):
        return None
    hit = df[(df["dataset"] == dataset) & (df["row"] == row)]
    if hit.empty:
        return None
    value = hit.iloc[0][metric]
    return None if pd.isna(value) else float(value)


def reference_lookup(table: str):
    """``paper_value`` bound to one table: the ``reference(dataset, row, metric)`` callable tables take."""
    load_reference(table)  # fail early on an unknown table

    def _lookup(dataset: str, row: str, metric: str) -> float | None:
        return paper_value(table, dataset, row, metric)

    _lookup.__name__ = f"paper_value[{table}]"
    return _lookup


@dataclass(frozen=True)
class DifferenceClaim:
    """A difference a paper states in its text: metric(row_a) - metric(row_b) = points, on dataset."""

    paper: str
    dataset: str
    row_a: str
    row_b: str
    metric: str
    points: float  # stated difference, in percentage points of ``metric``
    claim: str  # the paper's sentence (shortened), so the table can quote it

    @property
    def label(self) -> str:
        return f"{self.row_a} − {self.row_b}"


# Row labels follow the suite row labels ("BERT+ResNet (WBG)"), with the encoder in parentheses for
# the proposed-model variants. The lead's table4/5/6 suites must use these labels (or pass their own
# claims to tables.difference_table).
_NEF = "novemofake"
NOVEMOFAKE_CLAIMS: tuple[DifferenceClaim, ...] = (
    DifferenceClaim("NovEmoFake", _NEF, "BERT+ResNet (WBG)", "BERT+ResNet (W/O BG)", "accuracy", 16.06,
                    "Table 4 text: 'On the NovEmoFake data, we note a 16.06% increase in the accuracy using "
                    "BERT+ResNet' (with vs without background knowledge)"),
    DifferenceClaim("NovEmoFake", _NEF, "VisualBERT (WBG)", "VisualBERT (W/O BG)", "accuracy", 9.9,
                    "Table 4 text: '... and a 9.9% increase with Visual BERT' (with vs without background)"),
    DifferenceClaim("NovEmoFake", _NEF, "PMNE (BERT+ResNet)", "PM (BERT+ResNet)", "accuracy", 11.58,
                    "Table 6 text: 'by using novelty and emotion, we obtain 11.58% accuracy improvements "
                    "compared to the model without using novelty and emotion for the best-performing model "
                    "(BERT+ResNet)'"),
    DifferenceClaim("NovEmoFake", _NEF, "PMNE (BERT+ResNet)", "PMN (BERT+ResNet)", "accuracy", 7.10,
                    "Table 6 text: '7.10% ... accuracy improvement of the proposed model over the model "
                    "with novelty'"),
    DifferenceClaim("NovEmoFake", _NEF, "PMNE (BERT+ResNet)", "PME (BERT+ResNet)", "accuracy", 9.48,
                    "Table 6 text: '9.48% accuracy improvement of the proposed model over ... the model "
                    "with emotion'"),
    DifferenceClaim("NovEmoFake", _NEF, "PMNE (BERT+ResNet)", "BERT+ResNet (WBG)", "accuracy", 10.11,
                    "Table 6 text: 'a 10.11% accuracy improvement of our proposed model over a simple "
                    "BERT+ResNet model with background knowledge'"),
    DifferenceClaim("NovEmoFake", _NEF, "PMNE (BERT+ResNet)", "SAFE (WBG)", "accuracy", 1.92,
                    "Table 6 text: 'an improvement of 1.92% and 1.75% in accuracy concerning the SAFE model "
                    "using BERT+ResNet and VisualBERT, respectively' (BERT+ResNet part)"),
    DifferenceClaim("NovEmoFake", _NEF, "PMNE (VisualBERT)", "SAFE (WBG)", "accuracy", 1.75,
                    "Table 6 text: 'an improvement of 1.92% and 1.75% in accuracy concerning the SAFE model "
                    "using BERT+ResNet and VisualBERT, respectively' (VisualBERT part)"),
)
