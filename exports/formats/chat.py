"""Chat fine-tuning JSONL: exactly ``{"messages": [...]}`` per gold record.

The messages come from the task type's ``chat_messages`` with the export's
system prompt (no system message when empty) and prompt template. No ids or
split: fine-tuning readers expect only ``messages``; the exporter reconciles
by counts. An excluded item has no answer and fails the export.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from tasktypes.base import TaskType

from .base import ExportOptions, Format, GoldRow, LineWriter, Writer, implements, require_answer


class ChatWriter(LineWriter):
    def __init__(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> None:
        super().__init__(out)
        self.chat_messages = task_type.chat_messages
        self.config = config
        self.system = options.system_prompt
        self.template = options.prompt_template

    def line(self, row: GoldRow) -> Any:
        require_answer(row, "chat")
        messages = self.chat_messages(
            row.data, row.value, self.config, system=self.system, template=self.template
        )
        return {"messages": messages}


class Chat(Format):
    key = "chat"
    name = "Chat fine-tuning (JSONL messages)"
    extension = ".jsonl"
    content_type = "application/jsonl"

    def supports(self, task_type: TaskType) -> bool:
        return implements(task_type, "chat_messages", {}, None, {}, system="", template="")

    def writer(
        self, out: BinaryIO, *, task_type: TaskType, config: dict, options: ExportOptions
    ) -> Writer:
        return ChatWriter(out, task_type=task_type, config=config, options=options)
