"""Parquet: one flat row per gold record, typed columns.

Columns in a fixed order: item_id (int64), external_id (string), split
(string), the task type's export_record fields sorted by name (types taken
from the first row group: text → string, a label → string, labels →
list<string>; objects keep sorted keys), source (string), revision (int64),
a column "meta.<field>" for each metadata field any record of the export
has, sorted by field (its type from all the export's values, read before
the writers start: string, int64, double when integers and reals mix, bool,
else the value's JSON text; null where a record lacks it), then provenance
(a JSON string) when asked. The hf format writes the metadata as one struct
column "meta" with those fields instead.

Rows are written in row groups of BATCH_ROWS (fewer when their text passes
BATCH_CHARS), each by one write_table call with one Arrow array per column,
so a group's bytes are those of the whole group converted at once. (Handed
a column in chunks, the column writer cuts pages and falls back from
dictionary encoding at other rows: chunks would change the file.)

Memory: each split has a writer and each holds a group for long stretches
(at a million records the test split's first group fills over half the
export), so a waiting group must be small. As Python objects a row costs
about 1 KB, and converting a whole group by one pa.array call per column
grows Arrow's buffers by doubling, some 100 MB above the data. So the values
are packed every SUB_ROWS rows (formats/columns.py: strings and integers
as Arrow buffers; a waiting group costs a few MB). A task type's field is a
string column when the first row group holds only strings and nulls, which
is what pa.array infers; else pa.array infers its type from those values.

Every writer setting is pinned: zstd at a fixed level, dictionary encoding,
statistics on the id columns only, no page index, no pandas metadata
(tables are built from arrays), the fixed Arrow schema and a constant
key-value "created_by" of our own (the footer's own created_by is pyarrow's
version, which pyproject.toml pins). No time, host or path enters the file,
so the same rows give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from tasktypes.base import TaskType

from .base import (
    ExportOptions,
    Format,
    GoldRow,
    IdDigest,
    MetaColumn,
    Writer,
    flat_record,
    meta_typed,
)
from .columns import Column, Strings, column_for
from .csv import csv_columns

BATCH_ROWS = 50_000
BATCH_CHARS = 64 * 1024 * 1024  # flush early for very long texts: memory stays bounded
SUB_ROWS = 1024  # rows packed at a time
FIXED_TYPES = {
    "item_id": pa.int64(),
    "external_id": pa.string(),
    "split": pa.string(),
    "source": pa.string(),
    "revision": pa.int64(),
    "provenance": pa.string(),
}
METADATA = {b"created_by": b"accord export (parquet v1)"}
# A metadata column's Arrow type by its kind (base.meta_kind): JSON text for
# objects, lists and mixed types, which no one column type holds.
META_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "json": pa.string(),
}
WRITER_SETTINGS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": ["item_id", "revision"],
    "data_page_version": "1.0",
    "data_page_size": 1024 * 1024,
    "dictionary_pagesize_limit": 1024 * 1024,
    "write_batch_size": 1024,
    "store_schema": True,  # carries METADATA; the Arrow schema it adds is fixed too
    "write_page_index": False,
    "write_page_checksum": False,
    "use_content_defined_chunking": False,
}


class Sink(io.RawIOBase):
    """Hands pyarrow a stream it can use whatever ``out`` is: pyarrow asks for
    tell() and closed, which a hashing wrapper of the exporter may not have,
    and closes its sink, which must leave ``out`` open."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self.out = out
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        self.out.write(data)
        self.position += size
        return size

    def tell(self) -> int:
        return self.position


def canonical(value: Any) -> Any:
    """Objects with sorted keys (at any depth), so struct columns do not
    depend on the key order of the input."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list) and value and isinstance(value[0], dict | list):
        return [canonical(v) for v in value]
    return value


def infer_type(name: str, values: list) -> pa.DataType:
    if name in FIXED_TYPES:
        return FIXED_TYPES[name]
    inferred = pa.array(values).type
    return pa.string() if pa.types.is_null(inferred) else inferred


def meta_types(columns: tuple[MetaColumn, ...], *, nested: bool) -> dict[str, pa.DataType]:
    """The metadata columns' names and types: one column per field, or (
    ``nested``) one struct column "meta" with a field per metadata field —
    none when the export's records have no metadata (Parquet has no empty
    struct)."""
    if not columns:
        return {}
    if nested:
        return {"meta": pa.struct([(c.key, META_TYPES[c.kind]) for c in columns])}
    return {c.name: META_TYPES[c.kind] for c in columns}


class ParquetRowWriter(Writer):
    def __init__(
        self,
        out: BinaryIO,
        *,
        task_type: TaskType,
        config: dict,
        options: ExportOptions,
        nested_meta: bool = False,
    ) -> None:
        self.out = out
        self.task_type = task_type
        self.config = config
        self.provenance = options.provenance
        self.meta = options.meta_columns if options.include_meta else ()
        self.meta_keys = [c.key for c in self.meta]
        self.nested = nested_meta
        types = meta_types(self.meta, nested=nested_meta)
        self.meta_names = list(types)
        self.fixed = {**FIXED_TYPES, **types}
        self.columns: list[str] | None = None
        self.plain: list[str] = []  # the columns but provenance
        self.values: list[list] = []  # per column: the rows not packed yet
        self.packed: list[Column] = []  # per column: the row group's rows packed so far
        self.rows = 0  # in the row group
        self.chars = 0
        self.schema: pa.Schema | None = None
        self.parquet: pq.ParquetWriter | None = None

    def write(self, row: GoldRow) -> None:
        fields = self.task_type.export_record(row.data, row.value, self.config)
        record = flat_record(row, fields, self.provenance)
        if self.meta:
            values = meta_typed(row.meta, self.meta)
            if self.nested:
                record["meta"] = dict(zip(self.meta_keys, values, strict=True))
            else:
                record.update(zip(self.meta_names, values, strict=True))
        if self.columns is None:
            self.columns = csv_columns(fields, self.provenance, self.meta_names)
            self.plain = [n for n in self.columns if n != "provenance"]
            assert not self.provenance or self.columns[-1] == "provenance"
            self.values = [[] for _ in self.columns]
            self.packed = self._group()
        if len(record) != len(self.columns):
            raise ValueError(f"item {row.item_id}: export fields differ from the first row's")
        if self.provenance:
            # Kept as orjson's UTF-8 bytes, which the column packs as they are.
            data = orjson.dumps(row.provenance, option=orjson.OPT_SORT_KEYS)
            self.chars += len(data) if data.isascii() else len(data.decode())
            self.values[-1].append(data)
        # Every column but the provenance, which is the last.
        for column, name in zip(self.values, self.plain, strict=False):
            value = record[name]
            if type(value) is str:
                self.chars += len(value)
            elif value is not None and not isinstance(value, int | float):
                value = canonical(value)
            column.append(value)
        self.rows += 1
        if self.rows >= BATCH_ROWS or self.chars >= BATCH_CHARS:
            self._flush()
        elif len(self.values[0]) >= SUB_ROWS:
            self._pack()

    def close(self) -> None:
        if self.columns is None:
            return self._close_empty()
        self._flush()
        if self.parquet is not None:
            self.parquet.close()

    def _group(self) -> list[Column]:
        """Empty columns for a row group. In the first, a task type's field
        is a string column until it meets another value."""
        assert self.columns is not None
        if self.schema is None:
            return [column_for(n, self.fixed.get(n, pa.string())) for n in self.columns]
        return [column_for(field.name, field.type) for field in self.schema]

    def _pack(self) -> None:
        for i, values in enumerate(self.values):
            self.packed[i] = self.packed[i].extend(values)
            self.values[i] = []

    def _flush(self) -> None:
        if not self.rows:
            return
        assert self.columns is not None
        self._pack()
        if self.schema is None:
            self.schema = self._first_schema()
            self.parquet = pq.ParquetWriter(Sink(self.out), self.schema, **WRITER_SETTINGS)
        assert self.parquet is not None
        packed, self.packed = self.packed, self._group()
        arrays = [c.array(f.name, f.type) for f, c in zip(self.schema, packed, strict=True)]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self.parquet.write_table(table, row_group_size=BATCH_ROWS)
        # The column writers' page and dictionary buffers come from Arrow's
        # pool, whose allocator keeps freed pages for later: given back once
        # a group (well under a millisecond), what writing one group needed
        # is not held while the next ones fill (about 15 MB at 1M rows).
        pa.default_memory_pool().release_unused()
        self.rows = self.chars = 0

    def _first_schema(self) -> pa.Schema:
        assert self.columns is not None
        types = []
        for name, column in zip(self.columns, self.packed, strict=True):
            if name in self.fixed:
                types.append(self.fixed[name])
            elif isinstance(column, Strings):  # strings and nulls only
                types.append(pa.string())
            else:
                types.append(infer_type(name, column.python()))
        return pa.schema(list(zip(self.columns, types, strict=True)), metadata=METADATA)

    def _close_empty(self) -> None:
        # No rows: a valid file with the fixed columns and no row group.
        names = csv_columns({}, self.provenance, self.meta_names)
        schema = pa.schema([(n, self.fixed[n]) for n in names], metadata=METADATA)
        pq.ParquetWriter(Sink(self.out), schema, **WRITER_SETTINGS).close()


def _id_batches(fp: BinaryIO) -> Iterator[pa.Array]:
    for batch in pq.ParquetFile(fp).iter_batches(batch_size=65_536, columns=["item_id"]):
        yield batch.column(0)


def read_parquet_ids(fp: BinaryIO) -> Iterator[int]:
    for column in _id_batches(fp):
        yield from column.to_pylist()


def parquet_ids_digest(fp: BinaryIO) -> tuple[int, str]:
    digest = IdDigest()
    for column in _id_batches(fp):
        digest.update_arrow(column)
    return digest.result()


class Parquet(Format):
    key = "parquet"
    flat_meta = True
    name = "Parquet"
    extension = ".parquet"
    compressed = True
    content_type = "application/vnd.apache.parquet"

    def writer(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> Writer:
        return ParquetRowWriter(out, task_type=task_type, config=config, options=options)

    def read_ids(self, fp: BinaryIO) -> Iterator[int]:
        return read_parquet_ids(fp)

    def ids_digest(self, fp: BinaryIO) -> tuple[int, str]:
        return parquet_ids_digest(fp)
