"""Parquet: one flat row per gold record, typed columns.

Columns in a fixed order: item_id (int64), external_id (string), split
(string), the task type's export_record fields sorted by name (types taken
from the first batch: text → string, a label → string, labels → list<string>;
objects keep sorted keys), source (string), revision (int64), then provenance
(a JSON string) when asked.

Rows are gathered into batches of BATCH_ROWS (or fewer when their text
passes BATCH_CHARS) and each batch is written as one row group at once, so
memory stays flat. Every writer setting is pinned: zstd at a fixed level,
dictionary encoding, statistics on the id columns only, no page index, no
pandas metadata (tables are built from arrays), the fixed Arrow schema and a
constant key-value "created_by" of our own (the footer's own created_by is
pyarrow's version, which pyproject.toml pins). No time, host or path enters
the file, so the same rows give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from annotation.tasktypes.base import TaskType

from .base import ExportOptions, Format, GoldRow, Writer, flat_record
from .csv import csv_columns

BATCH_ROWS = 50_000
BATCH_CHARS = 64 * 1024 * 1024  # flush early for very long texts: memory stays bounded
FIXED_TYPES = {
    "item_id": pa.int64(),
    "external_id": pa.string(),
    "split": pa.string(),
    "source": pa.string(),
    "revision": pa.int64(),
    "provenance": pa.string(),
}
METADATA = {b"created_by": b"accord export (parquet v1)"}
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


class ParquetRowWriter(Writer):
    def __init__(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> None:
        self.out = out
        self.task_type = task_type
        self.config = config
        self.provenance = options.provenance
        self.columns: list[str] | None = None
        self.values: list[list] = []
        self.rows = 0
        self.chars = 0
        self.schema: pa.Schema | None = None
        self.parquet: pq.ParquetWriter | None = None

    def write(self, row: GoldRow) -> None:
        fields = self.task_type.export_record(row.data, row.value, self.config)
        record = flat_record(row, fields, self.provenance)
        if self.columns is None:
            self.columns = csv_columns(fields, self.provenance)
            self.values = [[] for _ in self.columns]
        if len(record) != len(self.columns):
            raise ValueError(f"item {row.item_id}: export fields differ from the first row's")
        if self.provenance:
            record["provenance"] = orjson.dumps(
                row.provenance, option=orjson.OPT_SORT_KEYS
            ).decode()
        for column, name in zip(self.values, self.columns, strict=True):
            value = record[name]
            if type(value) is str:
                self.chars += len(value)
            elif value is not None and not isinstance(value, int | float):
                value = canonical(value)
            column.append(value)
        self.rows += 1
        if self.rows >= BATCH_ROWS or self.chars >= BATCH_CHARS:
            self._flush()

    def close(self) -> None:
        if self.columns is None:
            return self._close_empty()
        self._flush()
        if self.parquet is not None:
            self.parquet.close()

    def _flush(self) -> None:
        if not self.rows:
            return
        assert self.columns is not None
        if self.schema is None:
            types = [infer_type(n, v) for n, v in zip(self.columns, self.values, strict=True)]
            self.schema = pa.schema(list(zip(self.columns, types, strict=True)), metadata=METADATA)
            self.parquet = pq.ParquetWriter(Sink(self.out), self.schema, **WRITER_SETTINGS)
        table = pa.Table.from_arrays(self._arrays(), schema=self.schema)
        assert self.parquet is not None
        self.parquet.write_table(table, row_group_size=BATCH_ROWS)
        self.values = [[] for _ in self.columns]
        self.rows = self.chars = 0

    def _arrays(self) -> list[pa.Array]:
        assert self.schema is not None
        arrays = []
        for field, values in zip(self.schema, self.values, strict=True):
            try:
                arrays.append(pa.array(values, type=field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
                raise ValueError(f"column {field.name!r} does not fit {field.type}: {exc}") from exc
        return arrays

    def _close_empty(self) -> None:
        # No rows: a valid file with the fixed columns and no row group.
        names = csv_columns({}, self.provenance)
        schema = pa.schema([(n, FIXED_TYPES[n]) for n in names], metadata=METADATA)
        pq.ParquetWriter(Sink(self.out), schema, **WRITER_SETTINGS).close()


def read_parquet_ids(fp: BinaryIO) -> Iterator[int]:
    for batch in pq.ParquetFile(fp).iter_batches(batch_size=65_536, columns=["item_id"]):
        yield from batch.column(0).to_pylist()


class Parquet(Format):
    key = "parquet"
    name = "Parquet"
    extension = ".parquet"
    content_type = "application/vnd.apache.parquet"

    def writer(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> Writer:
        return ParquetRowWriter(out, task_type=task_type, config=config, options=options)

    def read_ids(self, fp: BinaryIO) -> Iterator[int]:
        return read_parquet_ids(fp)
