"""Reading the text files of published corpora robustly, reporting every bad line as a Problem.

Corpora ship as TSV/CSV files edited by hand or exported by scrapers: a few lines carry non-UTF-8
bytes, a stray tab shifts a row's columns, two releases of the same corpus order their columns
differently. Every adapter reads through these helpers so that a bad line is reported once as
``file:line: reason`` (and the row is skipped with a warning) instead of crashing or silently
shifting fields. Columns are found by header name through aliases, never by position.

Lines are split on ``\\n`` only (``\\r\\n`` is accepted): ``str.splitlines`` would also split on
characters such as U+2028 that occur inside tweets.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from benchmark.data.schema import DataError, Problem

log = logging.getLogger(__name__)

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def _record(problems: list[Problem] | None, problem: Problem) -> None:
    if problems is None:
        log.warning("%s", problem)
    else:
        problems.append(problem)


def read_lines(path: Path | str, problems: list[Problem] | None = None) -> list[tuple[int, str]]:
    """Return ``(line_number, text)`` pairs (1-based, line endings removed) of a text file.

    The file is decoded as UTF-8 (a BOM, UTF-8 or UTF-16, is honoured). A line holding bytes that are
    not valid UTF-8 is decoded with U+FFFD replacement characters and reported as a warning Problem
    naming ``file:line`` (appended to ``problems``; logged when ``problems`` is None). A trailing
    newline does not produce an extra empty line.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found; check the data root and the dataset folder layout") from exc
    encoding = "utf-8"
    for bom, bom_encoding in _BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom):], bom_encoding
            break
    if encoding != "utf-8":
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: starts with a {encoding} byte-order mark but is not valid "
                            f"{encoding} ({exc}); re-save the file as UTF-8") from exc
        raw_lines: list[str] = text.split("\n")
        decoded = [(i, line) for i, line in enumerate(raw_lines, start=1)]
    else:
        decoded = []
        for number, raw in enumerate(data.split(b"\n"), start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = raw.decode("utf-8", errors="replace")
                _record(problems, Problem(
                    str(path), number,
                    f"non-UTF-8 bytes replaced (byte {exc.start}: {raw[exc.start:exc.start + 4]!r}); "
                    f"re-save the file as UTF-8 to keep the original characters",
                    severity="warning"))
            decoded.append((number, line))
    if decoded and decoded[-1][1] == "":
        decoded.pop()  # the newline that ends the last line
    return [(number, line[:-1] if line.endswith("\r") else line) for number, line in decoded]


def normalise_column(name: str) -> str:
    """Header name reduced to lower-case letters and digits: ``image_id(s)`` and ``imageId(s)`` match."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


@dataclass(frozen=True)
class Row:
    """One data row: its line number in the file and its fields in header order."""

    line: int
    values: tuple[str, ...]


@dataclass
class Table:
    """A delimited file: the header as written, the rows with the right column count, its path."""

    path: Path
    header: list[str]
    rows: list[Row] = field(default_factory=list)

    def columns(self, aliases: Mapping[str, Sequence[str]], required: Sequence[str] = ()) -> dict[str, int]:
        """Resolve canonical column names to positions via :func:`resolve_columns`."""
        return resolve_columns(self.header, aliases, self.path, required)


def resolve_columns(header: Sequence[str], aliases: Mapping[str, Sequence[str]], path: Path | str,
                    required: Sequence[str] = ()) -> dict[str, int]:
    """Map canonical names to header positions by name (each alias compared after :func:`normalise_column`).

    ``aliases`` maps a canonical name (``"image_ids"``) to the header spellings it may have
    (``("image_id(s)", "imageId(s)", "image_id")``). Canonical names not found are absent from the
    result; a missing ``required`` one raises :class:`DataError` listing the header that was found.
    """
    positions = {normalise_column(name): i for i, name in reversed(list(enumerate(header)))}
    resolved: dict[str, int] = {}
    for canonical, spellings in aliases.items():
        for spelling in (canonical, *spellings):
            key = normalise_column(spelling)
            if key in positions:
                resolved[canonical] = positions[key]
                break
    missing = [name for name in required if name not in resolved]
    if missing:
        expected = "; ".join(f"{name} (one of {', '.join(aliases.get(name, (name,)))})" for name in missing)
        raise DataError(f"{path}:1: header lacks column(s) {expected}; found header {list(header)}. "
                        f"Check that this is the right file of the release")
    return resolved


def _csv_records(lines: list[tuple[int, str]], delimiter: str, path: Path) -> Iterator[tuple[int, list[str]]]:
    """Parse quoted CSV/TSV lines; a quoted field may span lines, numbered by its first line."""
    position = {"index": 0}

    def feed() -> Iterator[str]:
        while position["index"] < len(lines):
            _, text = lines[position["index"]]
            position["index"] += 1
            yield text + "\n"

    reader = csv.reader(feed(), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    while True:
        start = position["index"]
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{path}:{lines[min(start, len(lines) - 1)][0]}: unreadable CSV record ({exc}); "
                            f"fix the quoting on that line") from exc
        yield lines[start][0] if start < len(lines) else lines[-1][0], fields


def read_table(path: Path | str, problems: list[Problem] | None = None, *, delimiter: str = "\t",
               quoted: bool = False) -> Table:
    """Read a delimited file whose first line is a header, checking every row's column count.

    ``quoted=False`` (TSV as the MediaEval corpora ship it) splits each line on ``delimiter`` and
    keeps quote characters as text; ``quoted=True`` follows CSV quoting (fields may contain the
    delimiter or newlines). A row with a column count other than the header's is reported as a
    warning Problem ``file:line: expected N columns, found M`` and skipped; blank lines are skipped.
    Non-UTF-8 lines are reported by :func:`read_lines`. An empty file raises :class:`DataError`.
    """
    path = Path(path)
    lines = read_lines(path, problems)
    if not lines:
        raise DataError(f"{path}: file is empty; expected a header line and rows")
    if quoted:
        records = list(_csv_records(lines, delimiter, path))
    else:
        records = [(number, text.split(delimiter)) for number, text in lines]
    header_line, header = records[0]
    header = [name.strip() for name in header]
    if not any(header):
        raise DataError(f"{path}:{header_line}: first line is blank; expected a header")
    table = Table(path=path, header=header)
    for number, values in records[1:]:
        if not any(value.strip() for value in values):
            continue  # blank line, not a row
        if len(values) != len(header):
            _record(problems, Problem(
                str(path), number,
                f"expected {len(header)} columns ({', '.join(header)}), found {len(values)}; row skipped "
                f"(a stray {'tab' if delimiter == chr(9) else repr(delimiter)} or a missing field?)",
                severity="warning"))
            continue
        table.rows.append(Row(number, tuple(values)))
    return table
