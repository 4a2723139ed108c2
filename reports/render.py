"""Writing a :class:`reports.tables.TableData` as Markdown, LaTeX (booktabs) and tidy CSV, plus the index page.

Why one module: the three formats come from the same decided table, so a number never differs
between the Markdown a reader opens, the LaTeX pasted into a paper and the CSV a script re-reads.
Markdown and LaTeX show the cell text (several lines per cell); the CSV is tidy — one line per cell
that carries values (e.g. one per row × dataset × metric), numbers unformatted — so it round-trips
through pandas without parsing display strings.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.tables import TableData

__all__ = ["render_markdown", "render_latex", "render_csv", "render", "write_table", "IndexEntry",
           "write_index", "latex_escape", "PROVENANCE_KEYS"]


# ---------------------------------------------------------------------------------------------
# Markdown


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "; ")


def _labels(table: TableData) -> list[str]:
    """Column heads as readers name them ("Twitter accuracy"); ``columns`` stay the CSV keys."""
    labels = getattr(table, "column_labels", None)
    return list(labels) if labels and len(labels) == len(table.columns) else list(table.columns)


def render_markdown(table: TableData) -> str:
    out = [f"## {table.title}", ""]
    out += [f"- {line}" for line in table.header]
    out.append("")
    heads = [table.row_header, *_labels(table)]
    out.append("| " + " | ".join(_md_escape(h) for h in heads) + " |")
    out.append("|" + "|".join(":---" for _ in heads) + "|")
    for row in table.rows:
        out.append("| " + " | ".join([_md_escape(row.label), *(_md_escape(c.text) for c in row.cells)]) + " |")
    if table.footnotes:
        out.append("")
        out += [f"{i}. {_md_escape(f)}" for i, f in enumerate(table.footnotes, 1)]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# LaTeX

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"$<$", ">": r"$>$", "|": r"\textbar{}",
    "±": r"$\pm$", "Δ": r"$\Delta$", "−": r"$-$", "—": "---", "≥": r"$\geq$", "≤": r"$\leq$",
    "×": r"$\times$", "α": r"$\alpha$", "β": r"$\beta$", "≈": r"$\approx$", "·": r"$\cdot$",
    "→": r"$\rightarrow$", "²": r"$^2$", "√": r"$\surd$",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))


def latex_escape(text: str) -> str:
    """Escape LaTeX specials (& % $ # _ { } ~ ^ \\ < > |), map the Unicode signs tables use, and spell
    any other non-ASCII character in ASCII (accents dropped) so that pdflatex never stops on one."""
    import unicodedata
    out = _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], str(text))
    if out.isascii():
        return out
    return "".join(ch if ch.isascii() else
                   (unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode() or "?") for ch in out)


def _tex_cell(text: str) -> str:
    lines = [latex_escape(x) for x in str(text).split("\n")]
    if len(lines) == 1:
        return lines[0]
    return r"\begin{tabular}[t]{@{}l@{}}" + r" \\ ".join(lines) + r"\end{tabular}"


LATEX_PREAMBLE = (r"\usepackage[T1]{fontenc}", r"\usepackage{booktabs}", r"\usepackage{graphicx}")


def render_latex(table: TableData) -> str:
    """A booktabs table scaled to the text width (needs booktabs and graphicx, see ``LATEX_PREAMBLE``),
    in a two-column-wide float, with header lines and footnotes below it in footnote size."""
    ncol = len(table.columns) + 1
    heads = [table.row_header, *_labels(table)]
    out = [r"\begin{table*}[htbp]", r"\centering", rf"\caption{{{latex_escape(table.title)}}}",
           rf"\label{{tab:{re.sub(r'[^A-Za-z0-9]+', '-', table.name)}}}",
           r"\resizebox{\textwidth}{!}{%",
           r"\begin{tabular}{" + "l" * ncol + "}", r"\toprule",
           " & ".join(_tex_cell(h) for h in heads) + r" \\", r"\midrule"]
    for row in table.rows:
        out.append(" & ".join([_tex_cell(row.label), *(_tex_cell(c.text) for c in row.cells)]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}}"]
    notes = [*table.header, *table.footnotes]
    if notes:
        out.append(r"\par\smallskip\scriptsize\raggedright")
        out += [latex_escape(n) + r"\par" for n in notes]
    out.append(r"\end{table*}")
    return "\n".join(out) + "\n"


def latex_document(table: TableData) -> str:
    """A complete document holding the table (what the compile test builds)."""
    return "\n".join([r"\documentclass[a4paper]{article}", *LATEX_PREAMBLE,
                      r"\usepackage[margin=2cm]{geometry}", r"\begin{document}", render_latex(table),
                      r"\end{document}", ""])


# ---------------------------------------------------------------------------------------------
# CSV


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float) and math.isnan(v):
        return ""
    return v


def render_csv(table: TableData) -> str:
    """Tidy CSV: one line per cell with values, columns table, row, column, then the union of value keys."""
    records = []
    keys: list[str] = []
    for row in table.rows:
        for col, cell in zip(table.columns, row.cells):
            if not cell.values:
                continue
            records.append({"table": table.name, "row": row.label, "column": col, **cell.values})
            for k in cell.values:
                if k not in keys:
                    keys.append(k)
    fields = ["table", "row", "column", *[k for k in keys if k not in ("table", "row", "column")]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: _csv_value(rec.get(k)) for k in fields})
    return buf.getvalue()


def render(table: TableData) -> dict[str, str]:
    """All three renderings: {"md": ..., "tex": ..., "csv": ...}."""
    return {"md": render_markdown(table), "tex": render_latex(table), "csv": render_csv(table)}


def write_table(table: TableData, out_dir: str | Path) -> dict[str, Path]:
    """Write ``table.md``, ``table.tex`` and ``table.csv`` into ``out_dir`` (created); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for ext, text in render(table).items():
        path = out / f"table.{ext}"
        path.write_text(text, encoding="utf-8")
        paths[ext] = path
    return paths


# ---------------------------------------------------------------------------------------------
# index page

#: provenance keys the index states (missing ones are printed "not recorded")
PROVENANCE_KEYS = ("data", "encoders", "protocol", "seeds", "git_commit")


@dataclass
class IndexEntry:
    """One table or figure on the index page; ``paths`` relative to the index (or absolute)."""

    title: str
    paths: Sequence[str | Path]
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def _rel(path: str | Path, base: Path) -> str:
    """A link target relative to the index folder ``base``.

    Absolute paths, and relative ones that exist from the working directory (as ``write_table`` returns
    them for a relative work directory), are made relative to ``base``; other relative paths are taken
    as already relative to the index.
    """
    p = Path(path)
    if p.is_absolute() or p.exists():
        try:
            return p.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return p.resolve().as_posix()
    return p.as_posix()


def write_index(out_dir: str | Path, entries: Sequence[IndexEntry | tuple], provenance: Mapping[str, Any]) -> Path:
    """Write ``out_dir/index.md``: provenance (data, encoders, protocol, seeds, git commit) and a link to every
    table and figure. ``entries`` are :class:`IndexEntry` or tuples ``(title, paths[, description])``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Reproduction report", "", "## Provenance", ""]
    for key in PROVENANCE_KEYS:
        val = provenance.get(key)
        if isinstance(val, (list, tuple)):
            val = ", ".join(map(str, val))
        lines.append(f"- {key.replace('_', ' ').capitalize()}: {val if val not in (None, '') else 'not recorded'}")
    for key, val in provenance.items():
        if key not in PROVENANCE_KEYS:
            lines.append(f"- {key.replace('_', ' ').capitalize()}: {val}")
    lines += ["", "## Tables and figures", ""]
    for e in entries:
        if not isinstance(e, IndexEntry):
            e = IndexEntry(e[0], [e[1]] if isinstance(e[1], (str, Path)) else list(e[1]),
                           e[2] if len(e) > 2 else "")
        links = ", ".join(f"[{Path(p).suffix.lstrip('.') or Path(p).name}]({_rel(p, out)})" for p in e.paths)
        desc = f" — {e.description}" if e.description else ""
        lines.append(f"- **{_md_escape(e.title)}**{desc}: {links}")
    path = out / "index.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
