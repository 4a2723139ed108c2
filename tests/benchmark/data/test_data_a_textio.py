"""Robust text reading: bad bytes and shifted rows are reported as file:line Problems, never crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.data.schema import DataError, Problem
from benchmark.data.textio import normalise_column, read_lines, read_table, resolve_columns


def test_read_lines_replaces_bad_bytes_and_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "posts.txt"
    path.write_bytes("first ok\n".encode() + b"caf\xe9 latin-1 here\r\n" + "third \u2028 ünïcode\n".encode())
    problems: list[Problem] = []
    lines = read_lines(path, problems)
    assert [number for number, _ in lines] == [1, 2, 3]
    assert lines[0][1] == "first ok"
    assert lines[1][1] == "caf\ufffd latin-1 here"  # replaced, and the \r of CRLF removed
    assert lines[2][1] == "third \u2028 ünïcode"  # U+2028 inside a tweet does not split the line
    assert len(problems) == 1
    problem = problems[0]
    assert problem.file == str(path) and problem.line == 2 and problem.severity == "warning"
    assert "non-UTF-8 bytes replaced" in problem.reason
    assert str(problem).startswith(f"{path}:2:")


def test_read_lines_bom_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bom.tsv"
    path.write_bytes(b"\xef\xbb\xbfa\tb\n1\t2")
    assert read_lines(path) == [(1, "a\tb"), (2, "1\t2")]
    utf16 = tmp_path / "utf16.tsv"
    utf16.write_bytes("\ufeffx\ty\n中\t文\n".encode("utf-16-le"))
    assert read_lines(utf16) == [(1, "x\ty"), (2, "中\t文")]
    with pytest.raises(DataError, match="nowhere.txt"):
        read_lines(tmp_path / "nowhere.txt")


def test_read_table_checks_column_count(tmp_path: Path) -> None:
    path = tmp_path / "table.tsv"
    path.write_text("post_id\tpost_text\tlabel\n"
                    "1\thello\tfake\n"
                    "2\ttab\tinside\treal\n"      # one field too many
                    "\n"                          # blank line: not a row
                    "3\tshort\n"                  # one too few
                    "4\t\"quoted \"\" text\"\treal\n", encoding="utf-8")
    problems: list[Problem] = []
    table = read_table(path, problems)
    assert table.header == ["post_id", "post_text", "label"]
    assert [row.line for row in table.rows] == [2, 6]
    assert table.rows[1].values[1] == "\"quoted \"\" text\""  # TSV keeps quotes verbatim
    assert [(p.line, p.severity) for p in problems] == [(3, "error"), (5, "error")]  # records lost
    assert "expected 3 columns" in problems[0].reason and "found 4" in problems[0].reason
    assert "found 2" in problems[1].reason


def test_read_table_quoted_csv_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text('id,text,label\n1,"a, b",fake\n2,"multi\nline",real\n3,plain,real,extra\n4,x,fake\n',
                    encoding="utf-8")
    problems: list[Problem] = []
    table = read_table(path, problems, delimiter=",", quoted=True)
    assert [(row.line, row.values) for row in table.rows] == [
        (2, ("1", "a, b", "fake")), (3, ("2", "multi\nline", "real")), (6, ("4", "x", "fake"))]
    assert [p.line for p in problems] == [5]


def test_resolve_columns_by_name_not_position(tmp_path: Path) -> None:
    aliases = {"post_id": ("post_id", "tweetId"), "image_ids": ("image_id(s)", "imageId(s)", "image_id"),
               "label": ("label",)}
    dev = resolve_columns(["post_id", "post_text", "user_id", "image_id(s)", "label"], aliases, "dev")
    test = resolve_columns(["post_id", "user_id", "username", "image_id", "label"], aliases, "test")
    old = resolve_columns(["tweetId", "imageId(s)", "label"], aliases, "old")
    assert (dev["image_ids"], test["image_ids"], old["image_ids"]) == (3, 3, 1)
    assert normalise_column("Image_ID(s) ") == "imageids"
    with pytest.raises(DataError, match=r"t\.tsv:1: header lacks column\(s\) label"):
        resolve_columns(["post_id", "text"], aliases, "t.tsv", required=("post_id", "label"))


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.tsv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty.tsv: file is empty"):
        read_table(path)


def _recovery_like(path: Path, body_of: dict[int, str]) -> None:
    """A ReCOVery-shaped CSV: id, title, multi-line quoted body, label; ``body_of`` overrides raw body text."""
    rows = ["news_id,title,body_text,reliability"]
    for k in range(1, 7):
        body = body_of.get(k, f'"Paragraph one of {k}, with a comma.\n\nParagraph two of {k}."')
        rows.append(f"rel_news-dataset-reuters_{k},Title {k},{body},1")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_a_record_swallowed_by_an_unterminated_quote_is_named(tmp_path: Path) -> None:
    path = tmp_path / "recovery-news-data.csv"
    # record 2's body opens a quote and never closes it: the reader runs on through record 3 (a
    # complete, valid record without quotes) to the next quote character, in record 4
    _recovery_like(path, {2: '"Paragraph of 2.\n\nMore of 2.', 3: "Body of 3 on one line"})
    problems: list[Problem] = []
    table = read_table(path, problems, delimiter=",", quoted=True)
    kept = [row.values[0] for row in table.rows]
    assert "rel_news-dataset-reuters_3" not in kept and "rel_news-dataset-reuters_1" in kept
    lost = [p for p in problems if p.item_id == "rel_news-dataset-reuters_3"]
    assert len(lost) == 1 and lost[0].severity == "error" and lost[0].line == 8
    # record 4 begins inside the run-on record too (its first line at 9): named as well
    assert [p.line for p in problems if p.item_id == "rel_news-dataset-reuters_4"] == [9]
    assert lost[0].reason.startswith("record 'rel_news-dataset-reuters_3' (news_id) is lost: ")
    assert "quote" in lost[0].reason and "stray ','" not in lost[0].reason
    assert all(p.severity == "error" for p in problems)


def test_a_quote_that_breaks_the_parse_names_the_lost_record_not_a_stray_comma(tmp_path: Path) -> None:
    path = tmp_path / "recovery-news-data.csv"
    _recovery_like(path, {4: 'Body of 4 "with a stray quote, and, commas\n\nand more, here.'})
    problems: list[Problem] = []
    table = read_table(path, problems, delimiter=",", quoted=True)
    assert "rel_news-dataset-reuters_4" not in [row.values[0] for row in table.rows]
    named = [p for p in problems if p.item_id == "rel_news-dataset-reuters_4"]
    assert named and named[0].line == 11 and "quote" in named[0].reason and "stray ','" not in named[0].reason
    assert all(p.severity == "error" for p in problems)
    # a sound file: nothing reported, every record kept
    _recovery_like(path, {})
    problems = []
    assert len(read_table(path, problems, delimiter=",", quoted=True).rows) == 6 and problems == []
