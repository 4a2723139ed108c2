"""The LaTeX table compiles with a real pdflatex and fits on one page (skips where TeX is absent)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from reports.reference import reference_lookup
from reports.render import latex_document, latex_escape
from reports.tables import metric_table
from tests.reports.test_reports_tables import rec


def test_latex_escape_spells_every_non_ascii_character():
    assert latex_escape("α = 0.05, Δ −0.1 ± 0.2 & 5%") == r"$\alpha$ = 0.05, $\Delta$ $-$0.1 $\pm$ 0.2 \& 5\%"
    assert latex_escape("Résumé v̄ 微博").isascii()


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex not installed (Debian: texlive-latex-base texlive-latex-recommended)")
def test_table2_shaped_table_compiles_and_fits_one_page(tmp_path):
    rows = ["COOLANT", "w/o ITM", "w/o ITC", "w/o CMF", "w/o ATT", "w/o AGU"]
    records = [rec(row, d, s, 30 + 7 * i + s) for i, row in enumerate(rows) for d in ("twitter", "weibo")
               for s in range(3)]
    table = metric_table(records, rows, ["twitter", "weibo"], ["accuracy", "balanced_accuracy", "fake_f1", "real_f1"],
                         reference=reference_lookup("coolant_table2"), reference_row="COOLANT",
                         title="COOLANT ablations [protocol: clean] [SYNTHETIC DATA]", name="table2",
                         dataset_labels={"twitter": "Twitter", "weibo": "Weibo"})
    (tmp_path / "t.tex").write_text(latex_document(table), encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert done.returncode == 0, log[-3000:]
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)[:3]
    assert "Float too large" not in log
    pages = re.search(r"Output written on t\.pdf \((\d+) page", log)
    assert pages and pages.group(1) == "1"
