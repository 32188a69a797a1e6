"""Reading an import file's rows: the streaming parsers (JSONL, a JSON
array, CSV/TSV), each row's validation through the task type, and the
limits that keep a hostile file from taking a worker's memory."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson
import orjson

import tasktypes
from accord.errors import InvalidInput

from .canonical import canonical_json, content_hash_of
from .jsonscan import JsonLimitError, JsonScanner, ScannedReader, nesting_exceeds

MAX_EXTERNAL_ID = 255
CSV_FIELD_LIMIT = 16 * 1024 * 1024
# Limits on what one line may make a worker hold or do, so that no file
# reaches an internal error or takes memory beyond a few times these.
# Depth: an item's own object counts as one level. Parsers and writers
# downstream allow more (orjson reads 1,024 levels and writes 254), so
# anything under this cap is stored and exported alike.
MAX_DEPTH = 64
# A JSONL line, a JSON array's item, a CSV row (characters): an item's text
# (1,000,000 characters) written as \u escapes of surrogate pairs is 12 MB.
MAX_LINE_BYTES = 32 * 1024 * 1024
MAX_META_CHARS = 1_000_000  # of the metadata's canonical JSON
MAX_COLUMNS = 1000
READ_BYTES = 64 * 1024

FORMATS = ("jsonl", "json", "csv", "tsv")
MAX_REPORTED_LINES = 1000


@dataclass(frozen=True)
class ImportOptions:
    format: str
    partial: bool = False
    on_conflict: str = "skip"  # or "update": replace items that have no annotations yet
    text_column: str = "text"
    id_column: str = "external_id"

    @classmethod
    def parse(cls, raw: dict[str, Any], *, filename: str = "") -> ImportOptions:
        errors = []
        fmt = raw.get("format") or guess_format(filename)
        if fmt not in FORMATS:
            errors.append({"field": "format", "reason": f"must be one of {', '.join(FORMATS)}"})
        partial = raw.get("partial", False)
        if isinstance(partial, str):
            word = partial.strip().lower()
            partial = (
                True
                if word in {"1", "true", "yes", "on"}
                else False
                if word in {"0", "false", "no", "off", ""}
                else partial
            )
        if not isinstance(partial, bool):
            errors.append({"field": "partial", "reason": "must be true or false"})
        on_conflict = raw.get("on_conflict") or "skip"
        if on_conflict not in ("skip", "update"):
            errors.append({"field": "on_conflict", "reason": "must be skip or update"})
        columns = {}
        for name, default in (("text_column", "text"), ("id_column", "external_id")):
            value = raw.get(name) or default
            if not isinstance(value, str) or len(value) > 200:
                errors.append({"field": name, "reason": "must be a column name"})
            columns[name] = value
        if errors:
            raise InvalidInput(errors)
        return cls(format=fmt, partial=bool(partial), on_conflict=on_conflict, **columns)


def guess_format(filename: str) -> str | None:
    lowered = filename.lower()
    for suffix, fmt in (
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".json", "json"),
        (".csv", "csv"),
        (".tsv", "tsv"),
    ):
        if lowered.endswith(suffix):
            return fmt
    return None


# --- parsing ----------------------------------------------------------------------------


@dataclass
class ParsedRow:
    line: int
    fields: dict[str, Any] | None  # None when the line could not be parsed
    error: str = ""


class FileError(Exception):
    """The file as a whole cannot be read (the job fails with this reason)."""


def _decode(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(
            f"line {line}: not valid UTF-8 (byte {exc.start + 1}); save the file as UTF-8"
        ) from None


def parse_jsonl(stream: IO[bytes]) -> Iterator[ParsedRow]:
    for number, raw in enumerate(_lines(stream, MAX_LINE_BYTES), start=1):
        if raw is None:
            yield ParsedRow(number, None, f"the line is longer than {MAX_LINE_BYTES:,} bytes")
            continue
        text = _decode(raw, number)
        if number == 1:
            text = text.removeprefix("\ufeff")
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        # Counting brackets is cheap and bounds the depth from above: only
        # a line that might nest too deep is scanned.
        if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and (
            too_deep := nesting_exceeds(raw, MAX_DEPTH)
        ):
            yield ParsedRow(number, None, f"invalid JSON: {too_deep.reason}")
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield ParsedRow(number, None, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(value, dict):
            yield ParsedRow(number, None, "must be a JSON object")
            continue
        yield ParsedRow(number, value)


def _lines(stream: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """The lines of ``stream`` (ended by LF, CRLF or CR, kept), each held in
    at most ``limit`` bytes (more than a read): a longer line is skipped and
    given as None, so one line without an end cannot take the worker's
    memory."""
    parts: list[bytes] = []  # the line so far, when it spans reads
    size = 0
    too_long = cr_pending = False
    while block := stream.read(READ_BYTES):
        if cr_pending:  # a CR ended the last read: a line end, or half a CRLF
            cr_pending = False
            if block.startswith(b"\n"):
                parts.append(b"\n")
                block = block[1:]
                too_long = too_long or size + 1 > limit
            yield None if too_long else b"".join(parts)
            parts, size, too_long = [], 0, False
        pieces = block.splitlines(keepends=True)
        if not pieces:
            continue
        last = pieces.pop()  # all others end with a line end
        if pieces and (parts or too_long):
            first = pieces[0]
            too_long = too_long or size + len(first) > limit
            yield None if too_long else b"".join((*parts, first))
            parts, size, too_long = [], 0, False
            yield from pieces[1:]
        else:
            yield from pieces
        size += len(last)
        if size > limit:
            too_long = True
            parts.clear()
        elif not too_long:
            parts.append(last)
        if last.endswith(b"\n"):
            yield None if too_long else b"".join(parts)
            parts, size, too_long = [], 0, False
        else:
            cr_pending = last.endswith(b"\r")
    if parts or too_long:
        yield None if too_long else b"".join(parts)


def parse_json_array(stream: IO[bytes]) -> Iterator[ParsedRow]:
    """Items of a top-level JSON array, streamed. ``line`` is the item's
    position (1-based): a streaming parser does not know line numbers.
    The parser reads the file through ``JsonScanner``, which refuses it
    before a level too deep or an item too large reaches the parser."""
    head = stream.read(4096)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(b"["):
        raise FileError("a JSON file must hold an array of objects: [{...}, {...}]")
    scanner = JsonScanner(max_depth=MAX_DEPTH + 1, items=True, max_item_bytes=MAX_LINE_BYTES)
    body = ScannedReader(Prefixed(head.removeprefix(b"\xef\xbb\xbf"), stream), scanner)
    number = 0
    try:
        for number, value in enumerate(ijson.items(body, "item", use_float=True), start=1):
            problem = scanner.bad_items.pop(number, None)
            if problem is not None:
                yield ParsedRow(number, None, problem)
            elif not isinstance(value, dict):
                yield ParsedRow(number, None, "must be a JSON object")
            else:
                yield ParsedRow(number, value)
    except JsonLimitError as exc:
        raise FileError(
            f"item {exc.item} (line {exc.line} of the file): {exc.reason}; nothing was imported"
        ) from None
    except ijson.JSONError as exc:
        raise FileError(f"invalid JSON after item {number}: {exc}") from None
    except UnicodeDecodeError:
        raise FileError(f"not valid UTF-8 after item {number}; save the file as UTF-8") from None


class Prefixed(io.RawIOBase):
    """A readable stream of ``head`` followed by the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]):
        self.head, self.stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def parse_csv(
    stream: IO[bytes], *, delimiter: str, options: ImportOptions, item_fields: tuple[str, ...]
) -> Iterator[ParsedRow]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    # Bytes that are not UTF-8 are decoded as lone surrogates and reported
    # by _CsvLines with their line: the decoder works ahead of the reader.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    lines = _CsvLines(text)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise FileError("the file is empty")
        header = [h.strip() for h in header]
        if len(header) > MAX_COLUMNS:
            raise FileError(f"line 1: {len(header):,} columns; at most {MAX_COLUMNS:,} are read")
        if any("\x00" in name for name in header):
            raise FileError("line 1: a column name must not contain NUL characters")
        data_columns = {
            name: (options.text_column if name == "text" else name) for name in item_fields
        }
        missing = [col for col in data_columns.values() if col not in header]
        if missing:
            raise FileError(f"no column {missing[0]!r}; the columns are: {', '.join(header)[:500]}")
        if len(set(header)) != len(header):
            raise FileError("two columns have the same name")
        index = {name: i for i, name in enumerate(header)}
        previous_end = reader.line_num
        for record in reader:
            lines.row_chars = 0
            line, previous_end = previous_end + 1, reader.line_num
            if not record or record == [""]:
                continue
            if len(record) != len(header):
                yield ParsedRow(line, None, f"expected {len(header)} fields, got {len(record)}")
                continue
            row: dict[str, Any] = {
                field: record[index[column]] for field, column in data_columns.items()
            }
            used = set(data_columns.values())
            if options.id_column in index:
                used.add(options.id_column)
                external_id = record[index[options.id_column]].strip()
                if external_id:
                    row["external_id"] = external_id
            meta = {name: record[i] for name, i in index.items() if name not in used}
            if meta:
                row["meta"] = meta
            yield ParsedRow(line, row)
    except csv.Error as exc:
        raise FileError(f"line {reader.line_num}: {exc}") from None


_UNDECODED = re.compile("[\udc80-\udcff]")


class _CsvLines:
    """The lines the CSV reader reads, each read in bounded memory and
    checked: a row (which quoted cells may spread over several lines) longer
    than ``MAX_LINE_BYTES`` characters, or bytes that were not UTF-8, fail
    the file with the line they are on."""

    def __init__(self, text: io.TextIOWrapper):
        self.text = text
        self.number = 0
        self.row_chars = 0  # reset by the reader's loop at each row

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        line = self.text.readline(MAX_LINE_BYTES + 1)
        if not line:
            raise StopIteration
        self.number += 1
        self.row_chars += len(line)
        if self.row_chars > MAX_LINE_BYTES:
            raise FileError(
                f"line {self.number}: the row is longer than {MAX_LINE_BYTES:,} characters"
            )
        if not line.isascii() and (bad := _UNDECODED.search(line)):
            byte = len(line[: bad.start()].encode("utf-8", "surrogateescape")) + 1
            raise FileError(
                f"line {self.number}: not valid UTF-8 (byte {byte}); save the file as UTF-8"
            )
        return line


def parse(
    stream: IO[bytes], options: ImportOptions, item_fields: tuple[str, ...]
) -> Iterator[ParsedRow]:
    if options.format == "jsonl":
        return parse_jsonl(stream)
    if options.format == "json":
        return parse_json_array(stream)
    delimiter = "," if options.format == "csv" else "\t"
    return parse_csv(stream, delimiter=delimiter, options=options, item_fields=item_fields)


# --- validation -----------------------------------------------------------------------


@dataclass
class StagedRow:
    line: int
    external_id: str | None
    content_hash: str
    data_json: str
    meta_json: str


def validate_row(row: ParsedRow, task_type, config: dict) -> StagedRow | list[dict]:
    """A row ready for staging, or its errors."""
    fields = dict(row.fields or {})
    errors: list[dict] = []
    external_id = fields.pop("external_id", None)
    meta = fields.pop("meta", None)
    if external_id is not None:
        if isinstance(external_id, bool) or not isinstance(external_id, str | int):
            errors.append({"field": "external_id", "reason": "must be a string or a whole number"})
        else:
            external_id = str(external_id).strip()
            if not external_id or len(external_id) > MAX_EXTERNAL_ID:
                errors.append(
                    {"field": "external_id", "reason": f"must be 1 to {MAX_EXTERNAL_ID} characters"}
                )
            elif "\x00" in external_id:
                errors.append({"field": "external_id", "reason": "must not contain NUL characters"})
            elif not external_id.isascii() and _SURROGATE_CHAR.search(external_id):
                errors.append({"field": "external_id", "reason": "must be valid Unicode"})
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        errors.append({"field": "meta", "reason": "must be an object"})
    try:
        data = task_type.validate_item(fields, config)
    except tasktypes.TaskTypeError as exc:
        errors.extend(exc.errors)
    if errors:
        return errors
    try:
        data_json = canonical_json(data)
        meta_json = canonical_json(meta) if meta else "{}"
    except TypeError as exc:  # orjson.JSONEncodeError: surrogates, depth, huge integers
        return [{"field": _unwritable(data), "reason": f"cannot be stored: {exc}"}]
    # PostgreSQL refuses a NUL, which orjson writes as \u0000; the walk
    # (rare) finds where, and tells it from a backslash followed by "u0000".
    if "\\u0000" in data_json or "\\u0000" in meta_json:
        found = _nul_at(data, "") or _nul_at(meta, "meta")
        if found is not None:
            return [{"field": found[0][:200] or None, "reason": found[1]}]
    if len(meta_json) > MAX_META_CHARS:
        return [
            {"field": "meta", "reason": f"is longer than {MAX_META_CHARS:,} characters as JSON"}
        ]
    return StagedRow(
        line=row.line,
        external_id=external_id or None,
        content_hash=content_hash_of(data_json),
        data_json=data_json,
        meta_json=meta_json,
    )


_SURROGATE_CHAR = re.compile("[\\ud800-\\udfff]")


def _unwritable(data: Any) -> str | None:
    """Which field the JSON writer refused: the data's (None) or meta."""
    try:
        canonical_json(data)
    except TypeError:
        return None
    return "meta"


def _nul_at(value: Any, path: str) -> tuple[str, str] | None:
    """Where in ``value`` a string or a key holds a NUL: (field, reason)."""
    if isinstance(value, str):
        return (path, "must not contain NUL characters") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return (path, "its keys must not contain NUL characters")
            found = _nul_at(item, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
