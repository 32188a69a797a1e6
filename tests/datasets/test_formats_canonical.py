"""The version's hash identifies the data: the same rows give byte-identical
files (Parquet included) whatever the key order of the dicts inside them,
and different rows give different bytes."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pyarrow.parquet as pq
import pytest

from exports.formats import ExportOptions, GoldRow
from exports.formats import parquet as parquet_format

from .helpers import MULTI, gold, multi_rows, single_rows, write

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
