"""JSONL: one flat object per gold record.

Each line holds item_id, external_id, split, the task type's export_record
fields (e.g. text and label, or text and labels), source and revision, the
item's meta as a nested object (unless include_meta is false), plus
provenance when asked. Keys sorted, compact, UTF-8, "\\n" endings (orjson),
so the bytes depend only on the rows. Values stay raw: no formula escaping
in JSON (SECURITY.md B10 round trip).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from tasktypes.base import TaskType

from .base import (
    ExportOptions,
    Format,
    GoldRow,
    LineWriter,
    Writer,
    flat_record,
    json_ids_digest,
    read_json_ids,
)


class JsonlWriter(LineWriter):
    def __init__(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> None:
        super().__init__(out)
        self.export_record = task_type.export_record
        self.config = config
        self.provenance = options.provenance
        self.include_meta = options.include_meta

    def line(self, row: GoldRow) -> Any:
        fields = self.export_record(row.data, row.value, self.config)
        record = flat_record(row, fields, self.provenance)
        if self.include_meta:
            record["meta"] = row.meta
        return record


class Jsonl(Format):
    key = "jsonl"
    name = "JSON Lines"
    extension = ".jsonl"
    content_type = "application/jsonl"

    def writer(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> Writer:
        return JsonlWriter(out, task_type=task_type, config=config, options=options)

    def read_ids(self, fp: BinaryIO) -> Iterator[int]:
        return read_json_ids(fp)

    def ids_digest(self, fp: BinaryIO) -> tuple[int, str]:
        return json_ids_digest(fp)
