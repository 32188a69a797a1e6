"""Raw multi-annotator JSONL: every annotation and every adjudication, for
people who model annotators themselves.

One line per item with submitted annotations, gold or not: item_id,
external_id, split, data, meta (unless include_meta is false), gold
({value, excluded, source, revision}, or null without a gold record), annotations (every submitted annotation, id
order: id, annotator, value, guideline_version, config_version,
submitted_at) and adjudications (every gold revision, oldest first), plus
provenance when asked. Keys sorted, compact, UTF-8: canonical like JSONL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from tasktypes.base import TaskType

from .base import ExportOptions, Format, GoldRow, LineWriter, Writer, json_ids_digest, read_json_ids


def gold_of(row: GoldRow) -> dict | None:
    if not row.source and not row.revision:
        return None
    return {
        "value": row.value,
        "excluded": row.excluded,
        "source": row.source,
        "revision": row.revision,
    }


class RawWriter(LineWriter):
    def __init__(self, out: BinaryIO, *, options: ExportOptions) -> None:
        super().__init__(out)
        self.provenance = options.provenance
        self.include_meta = options.include_meta

    def line(self, row: GoldRow) -> Any:
        line = {
            "item_id": row.item_id,
            "external_id": row.external_id,
            "split": row.split,
            "data": row.data,
            "gold": gold_of(row),
            "annotations": row.provenance.get("annotations", []),
            "adjudications": row.history,
        }
        if self.include_meta:
            line["meta"] = row.meta
        if self.provenance:
            line["provenance"] = row.provenance
        return line


class Raw(Format):
    key = "raw"
    name = "Raw annotations (JSONL, every annotator)"
    extension = ".jsonl"
    content_type = "application/jsonl"
    raw = True

    def writer(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> Writer:
        return RawWriter(out, options=options)

    def read_ids(self, fp: BinaryIO) -> Iterator[int]:
        return read_json_ids(fp)

    def ids_digest(self, fp: BinaryIO) -> tuple[int, str]:
        return json_ids_digest(fp)
