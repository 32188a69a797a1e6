"""What the exporter hands a format, and what a format gives back.

The export job (exports/job.py) streams gold records as ``GoldRow``s, in
item order, to one ``Writer`` per split; a ``Format`` says how the rows become
bytes. Every format writes canonical bytes: the same rows give the same file,
whatever the key order of the dicts inside them, because the version's sha256
over the data files identifies the dataset version.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from tasktypes.base import ExportNotSupported, TaskType

# Sorted keys, compact separators, UTF-8 without escapes, "\n" after each line.
JSON_LINE = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
# Rows are buffered and written in chunks: one out.write per chunk, not per row.
FLUSH_ROWS = 4096
# Arrow's JSON reader parses blocks of this many bytes on its threads; a line
# longer than a block makes it give up (the file is then read line by line).
# It keeps dozens of blocks in flight: 1 MB blocks cost about 60 MB, 8 MB
# blocks 350 MB, for no more speed.
JSON_ID_BLOCK = 1 << 20
# The columns every flat row carries besides the task type's export_record
# fields: before them, and after them (then "provenance" when asked).
LEAD_COLUMNS = ("item_id", "external_id", "split")
TAIL_COLUMNS = ("source", "revision")
RESERVED_COLUMNS = frozenset(LEAD_COLUMNS + TAIL_COLUMNS + ("provenance", "meta"))
# Flat formats carry each metadata field as a column of its own, named with
# this prefix: no export column has a dot, so no field can clash with one.
META_PREFIX = "meta."


# Not frozen, though formats only read it: a frozen dataclass sets each field
# through object.__setattr__, which made building the row (3.2 µs against
# 0.55 µs with slots) a fifth of the export's own Python time per record.
@dataclass(slots=True)
class GoldRow:
    """One item's gold record, as the exporter reads it at the snapshot."""

    item_id: int
    external_id: str | None
    split: str  # a split name from the spec ("train", "validation", "test", …) or "all"
    data: dict  # the item's data as the task type validated it
    meta: dict
    value: Any  # the gold value (None when excluded)
    excluded: bool
    source: str  # "consensus" | "adjudicated" | "audit-confirmed" ("" without gold: raw only)
    revision: int  # the gold record's revision (0 without gold: raw only)
    provenance: dict  # gold_id, reviewer, reason, versions, every submitted annotation…
    history: tuple = ()  # every gold revision, oldest first (raw formats only)


@dataclass(frozen=True)
class MetaColumn:
    """A metadata field as flat formats write it: ``kind`` is the one type
    its values take in the whole export (``meta_kind``)."""

    key: str
    kind: str  # "string", "integer", "number", "boolean" or "json"

    @property
    def name(self) -> str:
        return META_PREFIX + self.key


@dataclass(frozen=True)
class ExportOptions:
    provenance: bool = False  # JSONL/CSV/Parquet/hf/raw: add the field/column "provenance"
    include_meta: bool = True  # JSONL/CSV/Parquet/hf/raw: carry the item's meta
    system_prompt: str = ""  # chat format
    prompt_template: str = "{text}"  # chat format, classification: {text} and {labels}
    # Not a request option: the metadata fields of the export's records, in
    # key order, which the exporter reads before the writers start (a CSV
    # header and a Parquet schema are written before the rows).
    meta_columns: tuple[MetaColumn, ...] = ()


def meta_kind(types: set[str]) -> str:
    """The column type of a metadata field from the JSON types of its values
    in the export ("string", "integer", "real", "boolean", "array",
    "object", "null"): a string, integer or boolean column when all its
    values are of that type, a number column for integers and reals mixed,
    and JSON text for anything else (objects, lists, mixed types). Nulls and
    records without the field are empty."""
    types = types - {"null"}
    if not types or types == {"string"}:
        return "string"
    if types == {"integer"} or types == {"boolean"}:
        return types.pop()
    if types <= {"integer", "real"}:
        return "number"
    return "json"


def meta_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def meta_typed(meta: dict, columns: tuple[MetaColumn, ...]) -> list:
    """The values of ``columns`` for one record, each of its column's type
    (Parquet): None where the record lacks the field, JSON text for "json"
    columns, floats for "number" ones."""
    values = []
    for column in columns:
        value = meta.get(column.key)
        if value is not None:
            if column.kind == "json":
                value = meta_json(value)
            elif column.kind == "number":
                value = float(value)
        values.append(value)
    return values


class Writer:
    """Writes rows of one data file to ``out``; ``close`` flushes but leaves
    ``out`` open (the exporter hashes and stores it)."""

    def write(self, row: GoldRow) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class Format:
    key: ClassVar[str]
    name: ClassVar[str]
    extension: ClassVar[str]
    content_type: ClassVar[str]
    # True: the exporter streams every item with submitted annotations, gold
    # or not, with GoldRow.history filled.
    raw: ClassVar[bool] = False
    # True: the data files are compressed already (Parquet's zstd), so the
    # bundle stores them as they are instead of deflating them again.
    compressed: ClassVar[bool] = False
    # True: the writer takes the metadata columns (ExportOptions.meta_columns),
    # which the exporter reads before the rows.
    flat_meta: ClassVar[bool] = False

    def supports(self, task_type: TaskType) -> bool:
        return True

    def writer(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> Writer:
        raise NotImplementedError

    def extra_files(self, *, datasheet: dict, splits: list[str]) -> dict[str, bytes]:
        """Files besides the data files, by name (the hf dataset card)."""
        return {}

    def read_ids(self, fp: BinaryIO) -> Iterator[int] | None:
        """The item ids of a written data file, in order; None when the
        format carries no ids (the exporter then checks the bytes)."""
        return None

    def ids_digest(self, fp: BinaryIO) -> tuple[int, str] | None:
        """How many ids ``read_ids`` gives and their ``IdDigest``: what
        reconciliation compares with the ids the writer was given. Formats
        that can read the ids faster than one by one override it."""
        ids = self.read_ids(fp)
        return None if ids is None else IdDigest.of(ids)


class IdDigest:
    """The sha256 of a sequence of item ids as 64-bit integers in the
    machine's order, and how many there were. The exporter keeps one per
    split as it writes; reading the stored file back must give the same."""

    BATCH = 4096

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.count = 0

    def update(self, ids: array) -> None:
        self.sha.update(ids.tobytes())
        self.count += len(ids)

    def update_arrow(self, column: pa.Array) -> None:
        """Add an Arrow column of ids without making a Python int of each."""
        if column.null_count:
            raise ValueError("a record of the file has no item_id")
        column = column.cast(pa.int64())
        start = column.offset * 8
        ids = array("q")
        ids.frombytes(memoryview(column.buffers()[1])[start : start + len(column) * 8])
        if sys.byteorder == "big":  # Arrow's buffers are little-endian
            ids.byteswap()
        self.update(ids)

    def result(self) -> tuple[int, str]:
        return self.count, self.sha.hexdigest()

    @classmethod
    def of(cls, ids: Iterable[int]) -> tuple[int, str]:
        digest, batch = cls(), array("q")
        for item_id in ids:
            batch.append(item_id)
            if len(batch) == cls.BATCH:
                digest.update(batch)
                del batch[:]
        digest.update(batch)
        return digest.result()


class LineWriter(Writer):
    """A JSON-lines writer: ``line(row)`` gives one object, written with sorted
    keys and buffered into chunks."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.buffer: list[bytes] = []

    def line(self, row: GoldRow) -> Any:
        raise NotImplementedError

    def write(self, row: GoldRow) -> None:
        buffer = self.buffer
        buffer.append(orjson.dumps(self.line(row), option=JSON_LINE))
        if len(buffer) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.out.write(b"".join(self.buffer))
            self.buffer.clear()

    def close(self) -> None:
        self.flush()


def require_answer(row: GoldRow, fmt: str) -> None:
    """Training formats need a gold answer: an excluded item (exports with
    include_excluded) would become a null reply in a fine-tuning file."""
    if row.excluded:
        raise ValueError(f"item {row.item_id} is excluded: the {fmt} format has no line for it")


def flat_record(row: GoldRow, fields: dict, provenance: bool) -> dict:
    """The task type's export fields plus the columns every flat row carries."""
    if not RESERVED_COLUMNS.isdisjoint(fields):
        clash = sorted(RESERVED_COLUMNS.intersection(fields))
        raise ValueError(f"export_record fields {clash} clash with the export's own columns")
    record = {
        **fields,
        "item_id": row.item_id,
        "external_id": row.external_id,
        "split": row.split,
        "source": row.source,
        "revision": row.revision,
    }
    if provenance:
        record["provenance"] = row.provenance
    return record


def read_json_ids(fp: BinaryIO) -> Iterator[int]:
    """item_id of each line of a JSON-lines file."""
    loads = orjson.loads
    for line in fp:
        if line.strip():
            yield loads(line)["item_id"]


_ITEM_ID_ONLY = pa_json.ParseOptions(
    explicit_schema=pa.schema([("item_id", pa.int64())]), unexpected_field_behavior="ignore"
)


def json_ids_digest(fp: BinaryIO) -> tuple[int, str]:
    """``IdDigest`` of a JSON-lines file's item_ids. Arrow's reader parses
    the blocks on its own threads without the GIL: a 500 MB file in about
    half the time of a loop over the lines, while the exporter zips. A file
    Arrow refuses — a line longer than a block, an empty file, a line that
    does not parse — is read line by line, which gives the answer or the
    exact error."""
    start = fp.tell()
    digest = IdDigest()
    try:
        reader = pa_json.open_json(
            fp,
            read_options=pa_json.ReadOptions(block_size=JSON_ID_BLOCK),
            parse_options=_ITEM_ID_ONLY,
        )
        for batch in reader:
            digest.update_arrow(batch.column(0))
    except (pa.ArrowException, ValueError):
        fp.seek(start)
        return IdDigest.of(read_json_ids(fp))
    return digest.result()


def implements(task_type: TaskType, method: str, *args: Any, **kwargs: Any) -> bool:
    """Whether the task type maps onto an export: it overrides ``method`` and
    does not answer ExportNotSupported. The probe calls it with empty
    arguments; any other error means the mapping exists but wants real data."""
    if getattr(type(task_type), method) is getattr(TaskType, method):
        return False
    try:
        getattr(task_type, method)(*args, **kwargs)
    except ExportNotSupported:
        return False
    except Exception:  # a real mapping refusing the empty probe
        return True
    return True
