"""Item import at the speed of the database.

The request stores the uploaded bytes in Django's storage and queues a job
(``import_start``); the worker (``import_run``):

1. streams the file through a parser (JSONL, a JSON array through ijson, or
   CSV/TSV), validates each row through the task type, hashes its canonical
   JSON, and COPYs the good rows into a temporary staging table in
   chunks, reporting progress — memory stays bounded whatever the file size;
2. if any line is bad and the import is not partial, fails the job with the
   line numbers and imports nothing;
3. otherwise classifies the staged rows with a few set-based statements
   (duplicates in the file or already stored, external-id conflicts) and
   publishes the new ones with one ``INSERT … SELECT … ON CONFLICT DO
   NOTHING``, in one transaction that also marks the job succeeded.

A worker killed anywhere before that commit leaves no item behind and the job
not done (its staging table dies with its database session); the redelivered
task starts again from the stored file, so the retried job gives exactly the
expected rows (SECURITY.md F2, F9, E6).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any

import ijson
import orjson
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from accord.errors import InvalidInput
from projects.counters import counter_add
from projects.jobs import JobCancelled, JobContext, JobFailed, job_create, job_enqueue
from projects.models import Job, Project

from . import tasktypes
from .canonical import canonical_json, content_hash_of
from .models import Item, ItemState

FORMATS = ("jsonl", "json", "csv", "tsv")
CHUNK_ROWS = 5000
MAX_REPORTED_LINES = 1000
MAX_EXTERNAL_ID = 255
CSV_FIELD_LIMIT = 16 * 1024 * 1024
KIND = "import"


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
            partial = partial.lower() in {"1", "true", "yes", "on"}
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
    from .tasks import import_items

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
        job_enqueue(job, import_items)
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
    for number, raw in enumerate(stream, start=1):
        text = _decode(raw, number)
        if number == 1:
            text = text.removeprefix("\ufeff")
        text = text.rstrip("\r\n")
        if not text.strip():
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


def parse_json_array(stream: IO[bytes]) -> Iterator[ParsedRow]:
    """Items of a top-level JSON array, streamed. ``line`` is the item's
    position (1-based): a streaming parser does not know line numbers."""
    head = stream.read(4096)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(b"["):
        raise FileError("a JSON file must hold an array of objects: [{...}, {...}]")
    body = io.BufferedReader(_Prefixed(head.removeprefix(b"\xef\xbb\xbf"), stream))
    number = 0
    try:
        for number, value in enumerate(ijson.items(body, "item", use_float=True), start=1):
            if not isinstance(value, dict):
                yield ParsedRow(number, None, "must be a JSON object")
            else:
                yield ParsedRow(number, value)
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
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise FileError("the file is empty")
        header = [h.strip() for h in header]
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
    except UnicodeDecodeError:
        raise FileError(
            f"line {reader.line_num + 1}: not valid UTF-8; save the file as UTF-8"
        ) from None


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
    data_json = canonical_json(data)
    return StagedRow(
        line=row.line,
        external_id=external_id or None,
        content_hash=content_hash_of(data_json),
        data_json=data_json,
        meta_json=canonical_json(meta) if meta else "{}",
    )


# --- staging ------------------------------------------------------------------------------

# A temporary table: private to the worker's database session, written
# without WAL, and gone with the session if the worker dies — nothing to
# clean up after a crash, and nothing another import can see.
STAGE = "accord_import_stage"


class Status:
    NEW = 0
    DUPLICATE_IN_FILE = 1
    DUPLICATE = 2
    CONFLICT_IN_FILE = 3
    CONFLICT = 4
    UPDATE = 5


def stage_create() -> None:
    # Byte order ("C") for the hash and the ids: faster to sort and compare
    # than a linguistic collation, and they are identifiers, not words.
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGE} (line integer NOT NULL, external_id text{collate}, "
            f"content_hash text{collate} NOT NULL, data text NOT NULL, meta text NOT NULL, "
            f"status smallint NOT NULL DEFAULT 0)"
        )


def stage_drop() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")


STAGE_COLUMNS = "line, external_id, content_hash, data, meta"


class StageWriter:
    """Writes staged rows. On PostgreSQL one COPY spans the whole file, so the
    server parses and stores rows while Python is still reading the next
    ones; on SQLite rows go in batches."""

    def __init__(self) -> None:
        self._copy_cm = self._copy = None
        self._batch: list[tuple] = []
        if connection.vendor == "postgresql":
            self._cursor = connection.cursor()
            self._copy_cm = self._cursor.cursor.copy(f"COPY {STAGE} ({STAGE_COLUMNS}) FROM STDIN")
            self._copy = self._copy_cm.__enter__()

    def write(self, r: StagedRow) -> None:
        row = (r.line, r.external_id, r.content_hash, r.data_json, r.meta_json)
        if self._copy is not None:
            self._copy.write_row(row)
            return
        self._batch.append(row)
        if len(self._batch) >= CHUNK_ROWS:
            self._flush()

    def _flush(self) -> None:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {STAGE} ({STAGE_COLUMNS}) VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
                self._batch,
            )
        self._batch = []

    def close(self, error: BaseException | None = None) -> None:
        if self._copy_cm is not None:
            self._copy_cm.__exit__(type(error) if error else None, error, None)
            self._cursor.close()
        elif self._batch and error is None:
            self._flush()


@dataclass
class StageReport:
    lines: int = 0
    staged: int = 0
    bad: int = 0
    bad_lines: list | None = None


def stage_file(
    ctx: JobContext, project: Project, options: ImportOptions, stream: IO[bytes], size: int
) -> StageReport:
    task_type = tasktypes.get(project.task_type)
    from projects.services import project_config

    config = project_config(project).config
    report = StageReport(bad_lines=[])
    counting = _CountingReader(stream)
    writer = StageWriter()
    try:
        for row in parse(counting, options, task_type.item_fields):
            report.lines += 1
            result = (
                validate_row(row, task_type, config)
                if row.fields is not None
                else [{"field": None, "reason": row.error}]
            )
            if isinstance(result, list):
                report.bad += 1
                if len(report.bad_lines) < MAX_REPORTED_LINES:
                    report.bad_lines.append({"line": row.line, "errors": result})
                continue
            writer.write(result)
            report.staged += 1
            if report.staged % CHUNK_ROWS == 0:
                ctx.progress(counting.bytes_read, size)
    except BaseException as exc:
        writer.close(exc)
        raise
    writer.close()
    ctx.progress(counting.bytes_read, size, force=True)
    return report


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

    def __iter__(self):
        for line in self.stream:
            self.bytes_read += len(line)
            yield line


# --- publishing ---------------------------------------------------------------------------


def _execute(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def classify_staged(project_id: int, on_conflict: str) -> None:
    """Mark duplicates and conflicts among the staged rows with set-based
    statements (the same SQL on PostgreSQL and SQLite)."""
    item, annotation = Item._meta.db_table, "annotation_annotation"
    st = Status
    # The same content twice in the file: the first line wins.
    _execute(
        f"UPDATE {STAGE} SET status = {st.DUPLICATE_IN_FILE} FROM ("  # noqa: S608
        f"SELECT line, ROW_NUMBER() OVER (PARTITION BY content_hash ORDER BY line) AS n FROM {STAGE}"
        f") d WHERE {STAGE}.line = d.line AND d.n > 1",
        [],
    )
    # One external id with two contents in the file: the first line wins.
    _execute(
        f"UPDATE {STAGE} SET status = {st.CONFLICT_IN_FILE} FROM ("  # noqa: S608
        f"SELECT line, ROW_NUMBER() OVER (PARTITION BY external_id ORDER BY line) AS n FROM {STAGE} "
        f"WHERE status = {st.NEW} AND external_id IS NOT NULL"
        f") d WHERE {STAGE}.line = d.line AND d.n > 1",
        [],
    )
    # Content already stored: a duplicate, whatever its external id.
    _execute(
        f"UPDATE {STAGE} SET status = {st.DUPLICATE} WHERE status = {st.NEW} AND EXISTS ("  # noqa: S608
        f"SELECT 1 FROM {item} i WHERE i.project_id = %s AND i.content_hash = {STAGE}.content_hash)",
        [project_id],
    )
    # A stored external id with other content: a conflict, or an update of
    # an item nobody has annotated yet when the lead asked for that.
    _execute(
        f"UPDATE {STAGE} SET status = {st.CONFLICT} WHERE status = {st.NEW} AND external_id IS NOT NULL "  # noqa: S608
        f"AND EXISTS (SELECT 1 FROM {item} i WHERE i.project_id = %s AND i.external_id = {STAGE}.external_id)",
        [project_id],
    )
    if on_conflict == "update":
        _execute(
            f"UPDATE {STAGE} SET status = {st.UPDATE} WHERE status = {st.CONFLICT} AND EXISTS ("  # noqa: S608
            f"SELECT 1 FROM {item} i WHERE i.project_id = %s AND i.external_id = {STAGE}.external_id "
            f"AND i.state = 'open' AND NOT EXISTS (SELECT 1 FROM {annotation} a WHERE a.item_id = i.id))",
            [project_id],
        )


def _json(column: str) -> str:
    return f"{column}::jsonb" if connection.vendor == "postgresql" else column


def publish_staged(project_id: int) -> tuple[int, int]:
    """Insert the new rows and apply the updates; return (created, updated)."""
    item = Item._meta.db_table
    st = Status
    updated = _execute(
        f"UPDATE {item} SET data = {_json('s.data')}, meta = {_json('s.meta')}, content_hash = s.content_hash "  # noqa: S608
        f"FROM {STAGE} s WHERE s.status = {st.UPDATE} "
        f"AND {item}.project_id = %s AND {item}.external_id = s.external_id",
        [project_id],
    )
    created = _execute(
        f"INSERT INTO {item} (project_id, external_id, data, meta, content_hash, state, priority, created_at) "  # noqa: S608
        f"SELECT %s, external_id, {_json('data')}, {_json('meta')}, content_hash, %s, 0, %s FROM {STAGE} "
        f"WHERE status = {st.NEW} ORDER BY line ON CONFLICT DO NOTHING",
        [project_id, ItemState.OPEN.value, timezone.now()],
    )
    return created, updated


def _staged_lines(statuses: list[int]) -> tuple[int, list[dict]]:
    marks = ", ".join(str(int(x)) for x in statuses)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {STAGE} WHERE status IN ({marks})")  # noqa: S608
        count = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT line, external_id FROM {STAGE} WHERE status IN ({marks}) ORDER BY line LIMIT %s",  # noqa: S608
            [MAX_REPORTED_LINES],
        )
        return count, [
            {"line": line, "external_id": external_id} for line, external_id in cursor.fetchall()
        ]


def import_run(ctx: JobContext) -> None:
    """The worker's side of an import (see the module docstring)."""
    name = ctx.job.params["file"]
    stage_create()
    try:
        _import(ctx, name)
    except (JobFailed, JobCancelled):
        # A finished job keeps no upload. (A killed worker never gets here:
        # its retry needs the file.)
        default_storage.delete(name)
        raise
    finally:
        stage_drop()
    default_storage.delete(name)


def _import(ctx: JobContext, name: str) -> None:
    job = ctx.job
    project = Project.objects.get(pk=job.project_id)
    options = ImportOptions(**job.params["options"])
    try:
        size = default_storage.size(name)
        with default_storage.open(name, "rb") as stream:
            report = stage_file(ctx, project, options, stream, size)
    except FileError as exc:
        raise JobFailed(str(exc), {"created": 0, "file_error": str(exc)}) from None
    if report.lines == 0:
        raise JobFailed("The file holds no items.", {"created": 0, "lines": 0})
    base = {"lines": report.lines, "bad": report.bad, "bad_lines": report.bad_lines}
    if report.bad and not options.partial:
        noun = "line is" if report.bad == 1 else "lines are"
        raise JobFailed(
            f"{report.bad} {noun} bad, so nothing was imported; fix them or import with partial=true.",
            {**base, "created": 0, "duplicates": 0, "conflicts": 0, "updated": 0},
        )
    with transaction.atomic():
        # One publish per project at a time: the project row is the lock.
        Project.objects.select_for_update().get(pk=project.pk)
        classify_staged(project.pk, options.on_conflict)
        created, updated = publish_staged(project.pk)
        counter_add(project.pk, "items:total", created)
        counter_add(project.pk, f"items:{ItemState.OPEN}", created)
        n_conflicts, conflict_lines = _staged_lines([Status.CONFLICT, Status.CONFLICT_IN_FILE])
        ctx.succeed(
            {
                **base,
                "created": created,
                "updated": updated,
                "conflicts": n_conflicts,
                "conflict_lines": conflict_lines,
                # Staged and neither created, updated nor in conflict: already
                # there (in the file, in the project, or from a concurrent import).
                "duplicates": report.staged - created - updated - n_conflicts,
            }
        )
