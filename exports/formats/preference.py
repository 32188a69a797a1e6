"""Preference JSONL: ``{"prompt", "chosen", "rejected"}`` per gold record,
the shape DPO-style trainers read.

The three fields come from the task type's ``preference_pair``; nothing
else is written (no ids or split: those readers expect only their fields; the
exporter reconciles by counts). Task types without a mapping (classification)
are not offered this format; an excluded item fails the export.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from tasktypes.base import TaskType

from .base import ExportOptions, Format, GoldRow, LineWriter, Writer, implements, require_answer

PAIR_FIELDS = ("prompt", "chosen", "rejected")


class PreferenceWriter(LineWriter):
    def __init__(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> None:
        super().__init__(out)
        self.preference_pair = task_type.preference_pair
        self.config = config

    def line(self, row: GoldRow) -> Any:
        require_answer(row, "preference")
        pair = self.preference_pair(row.data, row.value, self.config)
        try:
            return {name: pair[name] for name in PAIR_FIELDS}
        except KeyError as exc:
            raise ValueError(f"item {row.item_id}: preference pair lacks {exc}") from exc


class Preference(Format):
    key = "preference"
    name = "Preference pairs (JSONL prompt/chosen/rejected)"
    extension = ".jsonl"
    content_type = "application/jsonl"

    def supports(self, task_type: TaskType) -> bool:
        return implements(task_type, "preference_pair", {}, None, {})

    def writer(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> Writer:
        return PreferenceWriter(out, task_type=task_type, config=config, options=options)
