"""SECURITY.md B10: CSV cells that a spreadsheet would run as a formula are
prefixed with a single quote and read back as text."""

from __future__ import annotations

import csv
import io

import pytest

from exports.formats.csv import csv_cell

from .helpers import gold, write

TRIGGERS = [
    "=1+2",
    '=HYPERLINK("http://evil.example","click")',
    "+1",
    "-1",
    "-5 stars",
    "@SUM(A1:A2)",
    "\tindented",
    "\rcarriage",
]


def read(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize("text", TRIGGERS)
def test_formula_triggers_are_escaped_and_read_back_as_text(text: str) -> None:
    [row] = read(write("csv", [gold(1, text, "pos")]))
    assert row["text"] == "'" + text


def test_external_id_and_numbers_are_escaped_too() -> None:
    [row] = read(write("csv", [gold(1, "plain", "pos", external_id="=cmd|' /C calc'!A0")]))
    assert row["external_id"] == "'=cmd|' /C calc'!A0"
    assert csv_cell(-5) == "'-5"  # a negative number is still a formula trigger
    assert csv_cell(-0.5) == "'-0.5"


@pytest.mark.parametrize(
    "text",
    ["well-known - fine", "a = b", "e-mail me @ home", "5-3", "'quoted already", " =space first"],
)
def test_other_text_is_untouched(text: str) -> None:
    [row] = read(write("csv", [gold(1, text, "pos")]))
    assert row["text"] == text


def test_cells_are_quoted_only_when_needed() -> None:
    data = write("csv", [gold(1, 'say "hi", then\nbye\rnow', "pos", external_id="e1")])
    assert data.split(b"\n")[1].startswith(b"1,e1,train,pos,")
    assert b'"say ""hi"", then\nbye\rnow"' in data
    [row] = read(data)
    assert row["text"] == 'say "hi", then\nbye\rnow'
