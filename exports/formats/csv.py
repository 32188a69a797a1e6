"""CSV: one flat row per gold record, for spreadsheets and pandas.

Columns in a fixed order: item_id, external_id, split, the task type's
export_record fields sorted by name, source, revision, a column
"meta.<field>" for each metadata field any record of the export has (sorted
by field; empty where a record lacks it; none with include_meta false), then
provenance (a JSON string) when asked. Strings are written as they are, None
as an empty cell, anything else (numbers, lists of labels, objects) as
compact JSON with sorted keys. "\\n" line endings and minimal quoting (a cell is quoted, its quotes
doubled, only when it holds a comma, a quote, LF or CR) are pinned so the bytes
depend only on the rows. The quoting is ours, not the csv module's: with a
"\\n" line terminator the module leaves a lone CR unquoted, which readers
take for a line break. Any cell that starts with = + - @ tab or CR gets a
leading ' so a spreadsheet reads it as text, not a formula (SECURITY.md B10).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from tasktypes.base import TaskType

from .base import (
    FLUSH_ROWS,
    LEAD_COLUMNS,
    META_PREFIX,
    TAIL_COLUMNS,
    ExportOptions,
    Format,
    GoldRow,
    Writer,
    flat_record,
)

FORMULA_START = frozenset("=+-@\t\r")
NEEDS_QUOTES = re.compile(r'[",\r\n]')


def csv_cell(value: Any) -> str:
    """One cell: text as is, None empty, other values as JSON; formula
    triggers escaped with a leading quote."""
    if value is None:
        return ""
    text = (
        value
        if isinstance(value, str)
        else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    )
    if text and text[0] in FORMULA_START:
        return "'" + text
    return text


def csv_line(cells: list[str]) -> str:
    """One CSV line, QUOTE_MINIMAL with CR treated like LF."""
    needs_quotes = NEEDS_QUOTES.search
    return (
        ",".join(
            '"' + cell.replace('"', '""') + '"' if needs_quotes(cell) else cell for cell in cells
        )
        + "\n"
    )


def csv_columns(fields: dict, provenance: bool, meta: list[str] | tuple = ()) -> list[str]:
    """The flat formats' columns: the fixed ones around the task type's
    fields, then the metadata columns (``meta``, in order), then provenance."""
    if any(META_PREFIX in name for name in fields):
        raise ValueError(f"export_record fields {sorted(fields)} clash with the metadata columns")
    tail = [*TAIL_COLUMNS, *meta, "provenance"] if provenance else [*TAIL_COLUMNS, *meta]
    return [*LEAD_COLUMNS, *sorted(fields), *tail]


class CsvWriter(Writer):
    def __init__(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> None:
        self.out = out
        self.task_type = task_type
        self.config = config
        self.provenance = options.provenance
        self.meta = options.meta_columns if options.include_meta else ()
        self.meta_names = [column.name for column in self.meta]
        self.lines: list[str] = []
        self.columns: list[str] | None = None

    def write(self, row: GoldRow) -> None:
        fields = self.task_type.export_record(row.data, row.value, self.config)
        record = flat_record(row, fields, self.provenance)
        if self.columns is None:
            self._header(csv_columns(fields, self.provenance, self.meta_names))
        if len(record) + len(self.meta) != len(self.columns):
            raise ValueError(f"item {row.item_id}: export fields differ from the first row's")
        if self.meta:
            meta = row.meta
            for column in self.meta:
                record[column.name] = meta.get(column.key)
        self.lines.append(csv_line([csv_cell(record[name]) for name in self.columns]))
        if len(self.lines) >= FLUSH_ROWS:
            self._flush()

    def close(self) -> None:
        if self.columns is None:
            self._header(csv_columns(self._probe_fields(), self.provenance, self.meta_names))
        self._flush()

    def _header(self, columns: list[str]) -> None:
        self.columns = columns
        self.lines.append(csv_line(columns))

    def _probe_fields(self) -> dict:
        # No rows: the header still names the task type's fields, taken from
        # a record of empty item data.
        data = dict.fromkeys(self.task_type.item_fields, "")
        try:
            return self.task_type.export_record(data, None, self.config)
        except Exception:  # a type that needs real data: fixed columns only
            return {}

    def _flush(self) -> None:
        if self.lines:
            self.out.write("".join(self.lines).encode("utf-8"))
            self.lines.clear()


def read_csv_ids(fp: BinaryIO) -> Iterator[int]:
    text = io.TextIOWrapper(fp, encoding="utf-8", newline="")
    try:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        if header[0] != "item_id":
            raise ValueError("the first CSV column is not item_id")
        for record in reader:
            yield int(record[0])
    finally:
        text.detach()  # leave fp open: the wrapper must not close it


class Csv(Format):
    key = "csv"
    flat_meta = True
    name = "CSV"
    extension = ".csv"
    content_type = "text/csv; charset=utf-8"

    def writer(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> Writer:
        return CsvWriter(out, task_type=task_type, config=config, options=options)

    def read_ids(self, fp: BinaryIO) -> Iterator[int]:
        return read_csv_ids(fp)
