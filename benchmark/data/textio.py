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


def _csv_records(lines: list[tuple[int, str]], delimiter: str,
                 path: Path) -> Iterator[tuple[int, list[str], int, int]]:
    """Parse quoted CSV/TSV lines; a quoted field may span lines, numbered by its first line.
    Yields (first line number, fields, index of its first line, index after its last line)."""
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
        yield lines[start][0] if start < len(lines) else lines[-1][0], fields, start, position["index"]


def id_shape(value: str) -> str:
    """The shape of a record's first field: digit runs as 9, letter runs as a (``rel_news-x_24`` ->
    ``a_a-a_9``); a line of body text rarely starts with a field of the ids' shape."""
    return re.sub(r"[^\W\d_]+", "a", re.sub(r"\d+", "9", value))


def swallowed_records(lines: list[tuple[int, str]], start: int, end: int, delimiter: str,
                      id_shapes: set[str]) -> list[tuple[int, str]]:
    """(line number, first field) of every record that begins inside the multi-line record spanning
    ``lines[start:end]``: an unterminated quote on its first line ran on over them, and the CSV reader
    took them as text of one field. A line begins a record when its first field has the shape of the
    file's ids (``id_shapes``); a record that ends inside the span is skipped past as a whole."""
    found: list[tuple[int, str]] = []
    index = start + 1
    while index < end:
        first = lines[index][1].split(delimiter, 1)
        if len(first) == 2 and first[0] and id_shape(first[0]) in id_shapes:
            found.append((lines[index][0], first[0]))
            try:
                inner = next(_csv_records(lines[index:end], delimiter, Path("")), None)
            except DataError:
                inner = None
            if inner is not None and inner[3] <= end - index:
                index += inner[3]
                continue
        index += 1
    return found


def _report_lost(path: Path, header: list[str], lines: list[tuple[int, str]],
                 broken: list[tuple[int, list[str], int, int]], kept_ids: set[str], id_shapes: set[str],
                 delimiter: str, quoted: bool, problems: list[Problem] | None) -> None:
    """Errors for a run of records that could not be read (their data is lost): a quoting problem is
    named as one, with every record id found in those lines; else one error per row."""
    first_line, last_line = broken[0][0], lines[broken[-1][3] - 1][0]
    span = lines[broken[0][2]:broken[-1][3]]
    if quoted and (any(end - first > 1 for _, _, first, end in broken) or any('"' in text for _, text in span)):
        lost = [(number, text.split(delimiter, 1)[0]) for number, text in span
                if text.split(delimiter, 1)[0] and id_shape(text.split(delimiter, 1)[0]) in id_shapes
                and text.split(delimiter, 1)[0] not in kept_ids]
        why = (f"the quoting breaks on line {first_line} (a quote opened and not closed, or a stray quote), so "
               f"{f'lines {first_line}-{last_line}' if last_line > first_line else f'line {first_line}'} could not be "
               f"read as records (expected {len(header)} columns, "
               f"found {len(broken[0][1])}); fix the quote on line {first_line}")
        for number, item_id in lost:
            _record(problems, Problem(str(path), number, f"record {item_id!r} ({header[0]}) is lost: {why}",
                                      severity="error", item_id=item_id))
        if not lost:
            _record(problems, Problem(str(path), first_line, f"the record(s) there are lost: {why}", severity="error"))
        return
    for number, values, _, _ in broken:
        _record(problems, Problem(
            str(path), number,
            f"expected {len(header)} columns ({', '.join(header)}), found {len(values)}; row skipped, its record "
            f"is lost (a stray {'tab' if delimiter == chr(9) else repr(delimiter)} or a missing field?)",
            severity="error", item_id=values[0] or None))


def read_table(path: Path | str, problems: list[Problem] | None = None, *, delimiter: str = "\t",
               quoted: bool = False) -> Table:
    """Read a delimited file whose first line is a header, checking every row's column count.

    ``quoted=False`` (TSV as the MediaEval corpora ship it) splits each line on ``delimiter`` and
    keeps quote characters as text; ``quoted=True`` follows CSV quoting (fields may contain the
    delimiter or newlines). A row with a column count other than the header's is skipped and reported
    as an error Problem (its record is lost) ``file:line: expected N columns, found M``, or, when a
    quote broke the parse, as a quoting problem naming every record id lost in those lines; complete
    records swallowed into another record's quoted field are named too. Blank lines are skipped.
    Non-UTF-8 lines are reported by :func:`read_lines`. An empty file raises :class:`DataError`.
    """
    path = Path(path)
    lines = read_lines(path, problems)
    if not lines:
        raise DataError(f"{path}: file is empty; expected a header line and rows")
    if quoted:
        records = list(_csv_records(lines, delimiter, path))
    else:
        records = [(number, text.split(delimiter), index, index + 1) for index, (number, text) in enumerate(lines)]
    header_line, header = records[0][:2]
    header = [name.strip() for name in header]
    if not any(header):
        raise DataError(f"{path}:{header_line}: first line is blank; expected a header")
    table = Table(path=path, header=header)
    body = [record for record in records[1:] if any(value.strip() for value in record[1])]  # blank lines: no rows
    kept_ids = {values[0] for _, values, _, _ in body if len(values) == len(header)}
    id_shapes = {id_shape(item_id) for item_id in kept_ids} if quoted else set()
    broken: list[tuple[int, list[str], int, int]] = []  # consecutive records with the wrong column count
    for index, (number, values, first, end) in enumerate(body):
        if len(values) != len(header):
            broken.append((number, values, first, end))
            if index + 1 < len(body) and len(body[index + 1][1]) != len(header):
                continue
            _report_lost(path, header, lines, broken, kept_ids, id_shapes, delimiter, quoted, problems)
            broken = []
            continue
        if quoted and end - first > 1:  # complete records hidden in this one's last field
            hidden = [(line, item_id) for line, item_id in
                      swallowed_records(lines, first, end, delimiter, id_shapes) if item_id not in kept_ids]
            last = lines[end - 1][0]
            for line, item_id in hidden:
                _record(problems, Problem(
                    str(path), line,
                    f"record {item_id!r} ({header[0]}) is lost: a quote opened in the record of line {number} is "
                    f"never closed, so lines {number}-{last} were read as that one record; close or double (\"\") "
                    f"the quote there", severity="error", item_id=item_id))
            if hidden:
                _record(problems, Problem(str(path), number, f"the record runs on to line {last} over {len(hidden)} "
                                          f"other record(s) (a quote that is never closed); its text is wrong",
                                          severity="error", item_id=values[0] or None))
        table.rows.append(Row(number, tuple(values)))
    return table
