"""The version's hash identifies the data: the same rows give byte-identical
files (Parquet included) whatever the key order of the dicts inside them,
and different rows give different bytes."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exports.formats import ExportOptions, GoldRow
from exports.formats import columns as parquet_columns
from exports.formats import parquet as parquet_format

from .helpers import MULTI, UNICODE_TEXT, gold, multi_rows, single_rows, write

ALL_KEYS = ["jsonl", "csv", "parquet", "hf", "chat", "raw"]
ASKED = ExportOptions(provenance=True)


class Passthrough:
    """A throwaway task type whose export fields are the item data as given
    (in its key order) plus an object-valued answer."""

    item_fields = ("text", "context")

    def export_record(self, item_data: dict, value: Any, config: dict) -> dict:
        return {**item_data, "answer": value}


def reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list | tuple):
        return type(value)(reversed_keys(v) for v in value)
    return value


def shuffled(row: GoldRow) -> GoldRow:
    return dataclasses.replace(
        row,
        data=reversed_keys(row.data),
        meta=reversed_keys(row.meta),
        value=reversed_keys(row.value),
        provenance=reversed_keys(row.provenance),
        history=reversed_keys(row.history),
    )


def passthrough_rows() -> list[GoldRow]:
    return [
        gold(
            n,
            f"text {n}",
            {"choice": "a", "strength": n, "reasons": ["x", "y"]},
            data={"text": f"text {n}", "context": "ctx"},
            history=({"revision": 1, "value": "a", "source": "consensus"},),
        )
        for n in range(1, 4)
    ]


@pytest.mark.parametrize("key", ALL_KEYS)
def test_same_rows_same_bytes(key: str) -> None:
    rows = single_rows()
    first = write(key, rows, options=ASKED)
    assert write(key, rows, options=ASKED) == first
    assert write(key, [shuffled(r) for r in rows], options=ASKED) == first
    assert write(key, multi_rows(), MULTI) == write(key, multi_rows(), MULTI)


@pytest.mark.parametrize("key", ["jsonl", "csv", "parquet", "hf", "raw"])
def test_key_order_of_fields_and_values_does_not_matter(key: str) -> None:
    rows = passthrough_rows()
    first = write(key, rows, options=ASKED, task_type=Passthrough())
    again = write(key, [shuffled(r) for r in rows], options=ASKED, task_type=Passthrough())
    assert again == first


def test_parquet_columns_and_struct_fields_are_sorted() -> None:
    data = write("parquet", [shuffled(r) for r in passthrough_rows()], task_type=Passthrough())
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == [
        "item_id",
        "external_id",
        "split",
        "answer",
        "context",
        "text",
        "source",
        "revision",
    ]
    assert [f.name for f in table.schema.field("answer").type] == ["choice", "reasons", "strength"]


@pytest.mark.parametrize("key", ALL_KEYS)
def test_different_rows_different_bytes(key: str) -> None:
    rows = single_rows()
    first = write(key, rows)
    relabelled = [rows[0], dataclasses.replace(rows[1], value="pos"), *rows[2:]]
    assert write(key, relabelled) != first
    assert write(key, rows[:-1]) != first
    if key != "chat":  # chat lines carry no id
        renumbered = [dataclasses.replace(rows[0], item_id=99), *rows[1:]]
        assert write(key, renumbered) != first


def test_parquet_writes_row_groups_as_batches_fill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet_format, "BATCH_ROWS", 3)
    rows = [gold(n, f"text {n}", "pos") for n in range(1, 9)]
    data = write("parquet", rows)
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [3, 3, 2]
    assert pq.read_table(io.BytesIO(data)).column("item_id").to_pylist() == list(range(1, 9))
    assert write("parquet", rows) == data


def waiting_rows() -> list[GoldRow]:
    """Nulls, non-ASCII, a NUL character, an empty and a long text."""
    texts = ["", UNICODE_TEXT, "nul \x00 inside", "x" * 5000, "plain"]
    return [
        gold(
            n,
            texts[n % len(texts)],
            "pos" if n % 3 else "neg",
            external_id=None if n % 2 else f"ext-{n}",
        )
        for n in range(1, 40)
    ]


@pytest.mark.parametrize(("sub_rows", "block_bytes"), [(1, 1), (3, 64), (7, 1 << 30)])
def test_parquet_bytes_do_not_depend_on_how_rows_wait_for_their_row_group(
    monkeypatch: pytest.MonkeyPatch, sub_rows: int, block_bytes: int
) -> None:
    monkeypatch.setattr(parquet_format, "BATCH_ROWS", 10)
    rows = waiting_rows()
    first = write("parquet", rows, options=ASKED)
    monkeypatch.setattr(parquet_format, "SUB_ROWS", sub_rows)
    monkeypatch.setattr(parquet_columns, "BLOCK_BYTES", block_bytes)
    assert write("parquet", rows, options=ASKED) == first
    table = pq.read_table(io.BytesIO(first))
    assert table.column("text").to_pylist() == [r.data["text"] for r in rows]
    assert table.column("external_id").to_pylist() == [r.external_id for r in rows]
    assert (
        table.column("provenance").to_pylist()[1]
        == orjson.dumps(rows[1].provenance, option=orjson.OPT_SORT_KEYS).decode()
    )


class Fields:
    """A throwaway task type whose export fields are the item data."""

    item_fields = ("score", "note", "tags")

    def export_record(self, item_data: dict, value: Any, config: dict) -> dict:
        return dict(item_data)


def test_parquet_field_types_come_from_the_whole_first_row_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parquet_format, "SUB_ROWS", 1)  # each row waits on its own
    rows = [
        gold(1, "", None, data={"score": 1, "note": None, "tags": None}),
        gold(2, "", None, data={"score": 2.5, "note": "seen", "tags": ["x"]}),
        gold(3, "", None, data={"score": 3, "note": None, "tags": []}),
    ]
    table = pq.read_table(io.BytesIO(write("parquet", rows, task_type=Fields())))
    assert table.schema.field("score").type == pa.float64()
    assert table.schema.field("note").type == pa.string()
    assert table.schema.field("tags").type == pa.list_(pa.string())
    assert table.column("score").to_pylist() == [1.0, 2.5, 3.0]
    assert table.column("note").to_pylist() == [None, "seen", None]
    assert table.column("tags").to_pylist() == [None, ["x"], []]


def test_parquet_refuses_a_value_that_does_not_fit_the_first_row_groups_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parquet_format, "BATCH_ROWS", 2)
    rows = [gold(1, "a", "pos"), gold(2, "b", "neg"), gold(3, "c", ["pos"])]
    with pytest.raises(ValueError, match="column 'label' does not fit string"):
        write("parquet", rows)
