"""Item import at the speed of the database.

The request stores the uploaded bytes in Django's storage and queues a job
(``import_start``); the worker (``import_run``), in one transaction that
also marks the job succeeded:

1. reads the file in a second thread — a streaming parser (JSONL, a JSON
   array through ijson, CSV/TSV), validation through the task type, the
   canonical JSON and its hash — and hands over chunks of valid rows, so
   memory stays bounded whatever the file size;
2. reads the project's content hashes and external ids once, in one pass,
   into compact sorted arrays (``annotation.keys``); checks each chunk
   against them and against what the file brought before — duplicates,
   conflicts, updates — and COPYs the new rows straight into the item table
   while the reader thread parses the next chunk;
3. at the end, if any line was bad and the import is not partial, rolls
   everything back and reports the bad lines; otherwise commits.

Writers of one project's items are serialised by an advisory lock
(``annotation.locks``). A worker killed anywhere before the commit leaves no
item behind and the job not done; the redelivered task starts again from
the stored file, so the retried job gives exactly the expected rows
(SECURITY.md F2, F9, E6).

That is PostgreSQL. On SQLite (the embedded mode) step 2 writes the rows,
invisible, in many short transactions and a last one publishes them: see
"staging" below.
"""

from __future__ import annotations

import csv
import io
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import ijson
import numpy as np
import orjson
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from accord.errors import InvalidInput
from projects.counters import counter_add
from projects.jobs import JobCancelled, JobContext, JobFailed, job_create, job_enqueue
from projects.models import Job, Project, QueueOrder

from . import tasktypes
from .canonical import canonical_json, content_hash_of
from .jsonscan import JsonLimitError, JsonScanner, ScannedReader, nesting_exceeds
from .keys import KeySet, hash_keys, id_keys, project_keys
from .locks import STAGING_STALE, job_alive, lock_project_items, staging_holder
from .models import STAGED, Annotation, ImportStaging, Item, ItemState, StagedUpdate

FORMATS = ("jsonl", "json", "csv", "tsv")
CHUNK_ROWS = 20_000
MAX_REPORTED_LINES = 1000
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
KIND = "import"

log = logging.getLogger(__name__)


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


# --- starting an import -----------------------------------------------------------


def import_start(
    *, project: Project, user, stream: IO[bytes], filename: str, options: ImportOptions
) -> Job:
    """Store the file, create the job and queue it once this transaction commits."""

    name = default_storage.save(
        f"imports/{project.pk}/{uuid.uuid4().hex}.{options.format}", File(stream)
    )
    with transaction.atomic():
        job = job_create(
            project=project,
            kind=KIND,
            user=user,
            params={"file": name, "filename": filename[:200], "options": asdict(options)},
        )
        job_enqueue(job)
    return job


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
    body = ScannedReader(_Prefixed(head.removeprefix(b"\xef\xbb\xbf"), stream), scanner)
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


class _Prefixed(io.RawIOBase):
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


# --- reading in a second thread ------------------------------------------------------------


@dataclass
class ReadReport:
    lines: int = 0
    bad: int = 0
    bad_lines: list = field(default_factory=list)


class RowReader(threading.Thread):
    """Parses and validates the file in a thread of its own and hands over
    chunks of valid rows, so Python reads the next chunk while the database
    stores the last one (the driver releases the GIL while it waits)."""

    def __init__(self, stream: IO[bytes], options: ImportOptions, task_type, config: dict):
        super().__init__(name="accord-import-reader", daemon=True)
        self.counting = _CountingReader(stream)
        self.options, self.task_type, self.config = options, task_type, config
        self.report = ReadReport()
        self.chunks: queue.Queue = queue.Queue(maxsize=3)
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    @property
    def bytes_read(self) -> int:
        return self.counting.bytes_read

    def run(self) -> None:
        try:
            chunk: list[StagedRow] = []
            for row in parse(self.counting, self.options, self.task_type.item_fields):
                if self.stopping.is_set():
                    return
                self.report.lines += 1
                result = (
                    validate_row(row, self.task_type, self.config)
                    if row.fields is not None
                    else [{"field": None, "reason": row.error}]
                )
                if isinstance(result, list):
                    self.report.bad += 1
                    if len(self.report.bad_lines) < MAX_REPORTED_LINES:
                        self.report.bad_lines.append({"line": row.line, "errors": result})
                    continue
                chunk.append(result)
                if len(chunk) >= CHUNK_ROWS:
                    self._hand_over(chunk)
                    chunk = []
            if chunk:
                self._hand_over(chunk)
        except BaseException as exc:  # handed to the main thread, which raises it
            self.error = exc
        finally:
            self._hand_over(None)

    def _hand_over(self, item) -> None:
        while not self.stopping.is_set():
            try:
                self.chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[list[StagedRow]]:
        while (chunk := self.chunks.get()) is not None:
            yield chunk
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


class _CountingReader(io.RawIOBase):
    """Counts the bytes read, so progress is measured in bytes of the file
    (known up front) rather than rows (unknown until the end)."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        self.bytes_read += len(data)
        return len(data)


# --- publishing ---------------------------------------------------------------------------


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    conflicts: int = 0
    conflict_lines: list = field(default_factory=list)

    def conflict(self, row: StagedRow) -> None:
        self.conflicts += 1
        if len(self.conflict_lines) < MAX_REPORTED_LINES:
            self.conflict_lines.append({"line": row.line, "external_id": row.external_id})


@dataclass
class Known:
    """The keys an import compares rows with (see annotation.keys)."""

    hashes: KeySet  # content in the project or accepted from this file
    ids: KeySet  # external ids in the project, flagged when replaceable
    file_ids: KeySet  # external ids this file has used already


def classify_chunk(chunk: list[StagedRow], on_conflict: str, known: Known, tally: Tally):
    """Split a chunk into new rows and updates; count duplicates and
    conflicts; remember the accepted rows' keys for the chunks to come."""
    h_hi, h_lo = hash_keys([r.content_hash for r in chunk])
    stored_hash, _ = known.hashes.find(h_hi, h_lo)
    with_id = [n for n, r in enumerate(chunk) if r.external_id is not None]
    i_hi, i_lo = id_keys(chunk[n].external_id for n in with_id)
    stored_id, replaceable = known.ids.find(i_hi, i_lo)
    used_id, _ = known.file_ids.find(i_hi, i_lo)
    id_state = {
        n: (bool(s), bool(r), bool(u))
        for n, s, r, u in zip(with_id, stored_id, replaceable, used_id, strict=True)
    }
    seen_hashes: set[str] = set()
    seen_ids: set[str] = set()
    new: list[StagedRow] = []
    updates: list[StagedRow] = []
    accepted: list[int] = []
    for n, row in enumerate(chunk):
        if stored_hash[n] or row.content_hash in seen_hashes:
            tally.duplicates += 1
            continue
        if row.external_id is not None:
            stored, may_replace, used = id_state[n]
            if used or row.external_id in seen_ids:
                tally.conflict(row)  # the same id twice in the file, other content
                continue
            if stored:
                if on_conflict == "update" and may_replace:
                    updates.append(row)
                else:
                    tally.conflict(row)
                    continue
            else:
                new.append(row)
            seen_ids.add(row.external_id)
        else:
            new.append(row)
        seen_hashes.add(row.content_hash)
        accepted.append(n)
    taken = np.array(accepted, dtype=np.intp)
    known.hashes.add(h_hi[taken], h_lo[taken])
    position = {n: k for k, n in enumerate(with_id)}
    taken_ids = np.array([position[n] for n in accepted if n in position], dtype=np.intp)
    known.file_ids.add(i_hi[taken_ids], i_lo[taken_ids])
    return new, updates


ITEM_COLUMNS = (
    "project_id, external_id, data, meta, content_hash, state, priority, rank, overlap, "
    "free_slots, outcome, created_at"
)


def insert_items(
    project: Project, rows: list[StagedRow], now, state: str = ItemState.OPEN.value
) -> None:
    from .queue.ranks import item_rank

    project_id, overlap = project.pk, project.overlap
    values = (
        (
            project_id,
            r.external_id,
            r.data_json,
            r.meta_json,
            r.content_hash,
            state,
            0.0,
            item_rank(project, priority=0.0, content_hash=r.content_hash),
            overlap,
            overlap,
            "",
            now,
        )
        for r in rows
    )
    if connection.vendor == "postgresql":
        # COPY is the fastest way in; the JSON text goes straight into jsonb.
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY annotation_item ({ITEM_COLUMNS}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO annotation_item ({ITEM_COLUMNS}) VALUES ({', '.join(['%s'] * 12)})",  # noqa: S608
            list(values),
        )


def update_items(project_id: int, rows: list[StagedRow]) -> int:
    if not rows:
        return 0
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE annotation_item SET data = %s{cast}, meta = %s{cast}, content_hash = %s "  # noqa: S608
            "WHERE project_id = %s AND external_id = %s",
            [(r.data_json, r.meta_json, r.content_hash, project_id, r.external_id) for r in rows],
        )
    return len(rows)


def _refuse_bad_file(report: ReadReport, options: ImportOptions) -> dict:
    """The read's part of the result; JobFailed if nothing may be imported."""
    base = {"lines": report.lines, "bad": report.bad, "bad_lines": report.bad_lines}
    if report.lines == 0:
        raise JobFailed("The file holds no items.", {"created": 0, "lines": 0})
    if report.bad and not options.partial:
        noun = "line is" if report.bad == 1 else "lines are"
        raise JobFailed(
            f"{report.bad} {noun} bad, so nothing was imported; fix them, or import again allowing a partial import (partial=true in the API).",
            {**base, "created": 0, "duplicates": 0, "conflicts": 0, "updated": 0},
        )
    return base


def import_run(ctx: JobContext) -> None:
    """The worker's side of an import (see the module docstring)."""
    name = ctx.job.params["file"]
    try:
        _import(ctx, name)
    except (JobFailed, JobCancelled):
        # A finished job keeps no upload. (A killed worker never gets here:
        # its retry needs the file.)
        default_storage.delete(name)
        raise
    default_storage.delete(name)


def import_discard_upload(job_id: int) -> None:
    """Remove the job's upload once the job is finished for good, however
    it ended (an internal error, a cancel before it ran, too many attempts
    included). A job still running — elsewhere, or to be taken up again
    after its worker died — keeps it: its retry reads it."""
    job = Job.objects.filter(pk=job_id).only("status", "params").first()
    if job is not None and job.is_finished and job.params.get("file"):
        default_storage.delete(job.params["file"])


def _import(ctx: JobContext, name: str) -> None:
    from projects.services import project_config

    project = Project.objects.get(pk=ctx.job.project_id)
    options = ImportOptions(**ctx.job.params["options"])
    task_type = tasktypes.get(project.task_type)
    config = project_config(project).config
    size = default_storage.size(name)
    with default_storage.open(name, "rb") as stream:
        reader = RowReader(stream, options, task_type, config)
        reader.start()
        try:
            _publish(ctx, project, options, reader, size)
        finally:
            reader.stop()


def _publish(
    ctx: JobContext, project: Project, options: ImportOptions, reader: RowReader, size: int
) -> None:
    if connection.vendor == "sqlite":
        _publish_staged(ctx, project, options, reader, size)
        return
    tally = Tally()
    now = timezone.now()
    report = reader.report
    with transaction.atomic():
        lock_project_items(project.pk)
        hashes, ids = project_keys(project.pk)
        known = Known(hashes=hashes, ids=ids, file_ids=KeySet())
        try:
            for chunk in reader:
                # After a bad line a strict import will be rolled back: keep
                # reading only to report every bad line.
                if not report.bad or options.partial:
                    new, updates = classify_chunk(chunk, options.on_conflict, known, tally)
                    insert_items(project, new, now)
                    tally.created += len(new)
                    tally.updated += update_items(project.pk, updates)
                ctx.progress(reader.bytes_read, size)
        except FileError as exc:
            raise JobFailed(str(exc), {"created": 0, "file_error": str(exc)}) from None
        ctx.progress(reader.bytes_read, size, force=True)
        base = _refuse_bad_file(report, options)
        counter_add(project.pk, "items:total", tally.created)
        counter_add(project.pk, f"items:{ItemState.OPEN}", tally.created)
        if tally.created and project.queue_order != QueueOrder.IMPORT:
            # New items may sort before where annotators' cursors are.
            from .reconcile import cursors_reseed

            cursors_reseed(project)
        ctx.succeed(
            {
                **base,
                "created": tally.created,
                "updated": tally.updated,
                "duplicates": tally.duplicates,
                "conflicts": tally.conflicts,
                "conflict_lines": tally.conflict_lines,
            }
        )
    _analyse_items(tally.created)


# An import of at least this many items is followed by ANALYZE of the item
# table, as is any import into a table never analysed: the queue's own
# statements keep their plans without statistics (annotation/queue.py), the
# item list, search and exports plan better with them, and autovacuum comes
# by only a minute or more later. ANALYZE reads a fixed-size sample (a few
# tenths of a second at a million items).
ANALYZE_AFTER = 1_000


def _analyse_items(created: int) -> None:
    """ANALYZE the item table after the import committed (PostgreSQL)."""
    if created == 0:
        return
    table = Item._meta.db_table
    with connection.cursor() as cursor:
        if created < ANALYZE_AFTER:
            cursor.execute(
                "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL "
                "FROM pg_stat_user_tables WHERE relid = %s::regclass",
                [table],
            )
            row = cursor.fetchone()
            if row is not None and not row[0]:
                return
        cursor.execute(f"ANALYZE {table}")  # noqa: S608 - our table


# --- staging (embedded mode) -------------------------------------------------------------
#
# SQLite has one writer at a time: an import in one transaction held the
# write lock for its whole length, so every claim and submit in every project
# waited for it, and its progress (written between transactions) never moved.
# There the import writes in short transactions instead: its rows go into the
# item table in state STAGED (invisible: the queue takes only 'open' items,
# Item.objects leaves staged rows out, counters move only at publication),
# STAGE_ROWS at a time (about 60 ms of lock), and after each transaction it
# leaves the lock free for at least PAUSE_SECONDS: SQLite keeps no queue of
# waiting writers, a claim that found the lock taken polls again after 1, 2,
# 5, 10, 15, 20, 25, 25 ms…, so a gap at least that long is one it finds.
# Progress and the cancel flag are written and read between transactions. One short transaction at the end publishes every staged row
# (state 'open') together with the counters, the updates and "succeeded".
# A failed or cancelled import removes its staged rows in short transactions
# before the job ends; a killed one leaves them to its retry, to the next
# import into the project, or to the hourly sweep (staging_sweep).
#
# The unique indexes hold staged rows too, so the item table still refuses a
# second copy of any content or external id, published or staged; the
# project's ImportStaging row keeps a second import (and items_create) out
# until the first has published, so the keys read at the start stay the
# whole truth.

STAGE_ROWS = 1_000
REMOVE_ROWS = 2_000
# While the reader thread parses a chunk, look at the cancel flag this often.
TICK_SECONDS = 0.25
WAIT_SECONDS = 0.5
PAUSE_SECONDS = 0.025


def _pause(held: float) -> None:
    """Leave the write lock free for other writers (see above); for a third
    of the time at least, should a transaction have taken longer."""
    time.sleep(max(PAUSE_SECONDS, held / 2))


def _chunks_ticking(reader: RowReader) -> Iterator[list[StagedRow] | None]:
    """The reader's chunks, with a None whenever none came for TICK_SECONDS."""
    while True:
        try:
            chunk = reader.chunks.get(timeout=TICK_SECONDS)
        except queue.Empty:
            yield None
            continue
        if chunk is None:
            break
        yield chunk
    if reader.error is not None:
        raise reader.error


def _remove_staged(project_id: int, allowed, job_ids: list[int]) -> bool:
    """Delete the project's staged rows and ``job_ids``' staged updates, a
    batch per transaction, while ``allowed()`` holds in it; False if it
    stopped because it no longer held."""
    while True:
        started = time.monotonic()
        with transaction.atomic():
            if not allowed():
                return False
            with connection.cursor() as cursor:
                # 'staged' as a literal: SQLite uses a partial index only
                # for a condition it can see implies the index's own.
                cursor.execute(
                    f"DELETE FROM {Item._meta.db_table} WHERE id IN (SELECT id FROM "  # noqa: S608
                    f"{Item._meta.db_table} WHERE project_id = %s AND state = 'staged' "
                    "ORDER BY id LIMIT %s)",
                    [project_id, REMOVE_ROWS],
                )
                removed = cursor.rowcount
            if job_ids:
                StagedUpdate.objects.filter(job_id__in=job_ids).delete()
                job_ids = []
        if removed < REMOVE_ROWS:
            return True
        _pause(time.monotonic() - started)


class Staging:
    """One import's hold on its project's items, and its staged rows."""

    def __init__(self, ctx: JobContext, project: Project):
        self.ctx, self.project, self.job_id = ctx, project, ctx.job.pk
        self.ordered_by = (project.queue_order, project.queue_seed)

    def holds(self) -> bool:
        return staging_holder(self.project.pk) == self.job_id

    def acquire(self, size: int) -> None:
        """Take the project's ImportStaging row, waiting (cancellable) while
        another live import has it; then remove whatever a dead holder (or
        an earlier attempt of this job) staged."""
        while True:
            with transaction.atomic():
                holder = staging_holder(self.project.pk)
                if holder is None or holder == self.job_id or not job_alive(holder):
                    ImportStaging.objects.update_or_create(
                        project_id=self.project.pk,
                        defaults={"job_id": self.job_id, "taken_at": timezone.now()},
                    )
                    break
            self.ctx.progress(0, size)
            time.sleep(WAIT_SECONDS)
        leftovers = [self.job_id] if holder in (None, self.job_id) else [holder, self.job_id]
        _remove_staged(self.project.pk, self.holds, leftovers)

    def _check_held(self) -> None:
        if not self.holds():
            raise JobFailed(
                "Another import of this project took over (this one stopped reporting for "
                f"{int(STAGING_STALE.total_seconds())} s); nothing of this one was published."
            )

    def write(self, new: list[StagedRow], updates: list[StagedRow], now) -> None:
        started = time.monotonic()
        with transaction.atomic():
            self._check_held()
            insert_items(self.project, new, now, state=STAGED)
            StagedUpdate.objects.bulk_create(
                StagedUpdate(
                    job_id=self.job_id,
                    line=r.line,
                    external_id=r.external_id,
                    data=r.data_json,
                    meta=r.meta_json,
                    content_hash=r.content_hash,
                )
                for r in updates
            )
        _pause(time.monotonic() - started)

    def discard(self) -> None:
        """Remove what this import staged and let go of the project (only
        while it still holds it: a taker removes the rest itself)."""
        if _remove_staged(self.project.pk, self.holds, [self.job_id]):
            ImportStaging.objects.filter(project_id=self.project.pk, job_id=self.job_id).delete()

    def publish(self, tally: Tally, base: dict) -> None:
        """Make every staged row an item, apply the updates, count them and
        mark the job succeeded: one transaction."""
        from .reconcile import cursors_reseed

        item = Item._meta.db_table
        with transaction.atomic():
            self._check_held()
            if Job.objects.filter(pk=self.job_id, cancel_requested=True).exists():
                raise JobCancelled
            project = Project.objects.get(pk=self.project.pk)
            reordered = (project.queue_order, project.queue_seed) != self.ordered_by
            if reordered:
                self._rerank(project)
            self._apply_updates(project.pk, tally)
            with connection.cursor() as cursor:
                # The project's overlap now, should a lead have changed it
                # while the import ran.
                cursor.execute(
                    f"UPDATE {item} SET state = 'open', overlap = %s, free_slots = %s "  # noqa: S608
                    "WHERE project_id = %s AND state = 'staged'",
                    [project.overlap, project.overlap, project.pk],
                )
                created = cursor.rowcount
            StagedUpdate.objects.filter(job_id=self.job_id).delete()
            ImportStaging.objects.filter(project_id=project.pk).delete()
            counter_add(project.pk, "items:total", created)
            counter_add(project.pk, f"items:{ItemState.OPEN}", created)
            if created and (reordered or project.queue_order != QueueOrder.IMPORT):
                cursors_reseed(project)
            tally.conflict_lines.sort(key=lambda x: x["line"])
            self.ctx.succeed(
                {
                    **base,
                    "created": created,
                    "updated": tally.updated,
                    "duplicates": tally.duplicates,
                    "conflicts": tally.conflicts,
                    "conflict_lines": tally.conflict_lines,
                }
            )

    def _rerank(self, project: Project) -> None:
        """Ranks for the order the project has now (a requeue while the
        import ran saw only the published items)."""
        from .queue.ranks import item_rank

        staged = Item._base_manager.filter(project_id=project.pk, state=STAGED)
        rows = [
            (item_rank(project, priority=0.0, content_hash=digest), pk)
            for pk, digest in staged.values_list("pk", "content_hash")
        ]
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {Item._meta.db_table} SET rank = %s WHERE id = %s",  # noqa: S608
                rows,
            )

    def _apply_updates(self, project_id: int, tally: Tally) -> None:
        """Replace the content of the items named by the staged updates that
        are still open and unannotated; the others became conflicts."""
        item, update = Item._meta.db_table, StagedUpdate._meta.db_table
        replaceable = (
            f"i.state = 'open' AND NOT EXISTS (SELECT 1 FROM {Annotation._meta.db_table} a "  # noqa: S608
            "WHERE a.item_id = i.id)"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT s.line, s.external_id FROM {update} s WHERE s.job_id = %s "  # noqa: S608
                f"AND NOT EXISTS (SELECT 1 FROM {item} i WHERE i.project_id = %s "
                f"AND i.external_id = s.external_id AND {replaceable}) ORDER BY s.line",
                [self.job_id, project_id],
            )
            for line, external_id in cursor.fetchall():
                tally.updated -= 1
                tally.conflict(StagedRow(line, external_id, "", "", ""))
            cursor.execute(
                f"UPDATE {item} AS i SET data = s.data, meta = s.meta, "  # noqa: S608
                f"content_hash = s.content_hash FROM {update} s WHERE s.job_id = %s "
                f"AND i.project_id = %s AND i.external_id = s.external_id AND {replaceable}",
                [self.job_id, project_id],
            )


def _publish_staged(
    ctx: JobContext, project: Project, options: ImportOptions, reader: RowReader, size: int
) -> None:
    staging = Staging(ctx, project)
    staging.acquire(size)
    try:
        _stage(ctx, staging, options, reader, size)
    except BaseException:
        try:
            staging.discard()
        except Exception:
            # Its retry, the next import or the sweep removes the rest.
            log.exception("import %s could not remove its staged rows", ctx.job.pk)
        raise


def _stage(
    ctx: JobContext, staging: Staging, options: ImportOptions, reader: RowReader, size: int
) -> None:
    tally = Tally()
    now = timezone.now()
    report = reader.report
    hashes, ids = project_keys(staging.project.pk)
    known = Known(hashes=hashes, ids=ids, file_ids=KeySet())
    line = 0  # the last line written (or skipped)

    def written() -> int:
        # The reader runs chunks ahead, so its byte count would reach the
        # end long before the writing does: the bytes up to ``line``, at the
        # average length of the lines read so far.
        read, lines = reader.bytes_read, report.lines
        return min(read, line * read // lines) if lines else 0

    try:
        for chunk in _chunks_ticking(reader):
            # After a bad line a strict import will fail: keep reading only
            # to report every bad line.
            if chunk is not None and (not report.bad or options.partial):
                new, updates = classify_chunk(chunk, options.on_conflict, known, tally)
                tally.updated += len(updates)
                for start in range(0, max(len(new), len(updates)), STAGE_ROWS):
                    if report.bad and not options.partial:
                        break
                    end = start + STAGE_ROWS
                    staging.write(new[start:end], updates[start:end], now)
                    line = max(r.line for r in (*new[start:end][-1:], *updates[start:end][-1:]))
                    ctx.progress(written(), size)
            if chunk is not None:
                line = chunk[-1].line
            ctx.progress(written(), size)
    except FileError as exc:
        raise JobFailed(str(exc), {"created": 0, "file_error": str(exc)}) from None
    ctx.progress(reader.bytes_read, size, force=True)
    staging.publish(tally, _refuse_bad_file(report, options))


def staging_sweep() -> int:
    """Remove what dead embedded-mode imports staged (hourly, beside the
    counters' recount): the rows of projects whose ImportStaging holder
    finished or went silent, or that have none. Returns the projects swept."""
    projects = set(
        Item._base_manager.filter(state=STAGED).values_list("project_id", flat=True).distinct()
    )
    projects |= set(ImportStaging.objects.values_list("project_id", flat=True))
    swept = 0
    for project_id in sorted(projects):
        holder = staging_holder(project_id)

        def dead(project_id=project_id, holder=holder) -> bool:
            now = staging_holder(project_id)
            return now is None or (now == holder and not job_alive(now))

        if not dead():
            continue
        if _remove_staged(project_id, dead, [holder] if holder else []):
            ImportStaging.objects.filter(project_id=project_id, job_id=holder).delete()
            swept += 1
    StagedUpdate.objects.filter(job__status__in=Job.FINISHED).delete()
    return swept
