"""The import's reader thread: parses and validates the file beside the
writer and hands over chunks of ``CHUNK_ROWS`` valid rows, so memory stays
bounded whatever the file's size."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from .parsing import MAX_REPORTED_LINES, ImportOptions, StagedRow, parse, validate_row

CHUNK_ROWS = 20_000


# --- reading in a second thread ------------------------------------------------------------


@dataclass
class ReadReport:
    lines: int = 0
    bad: int = 0
    bad_lines: list = field(default_factory=list)


class RowReader(threading.Thread):
    """Parses and validates the file in a thread of its own and hands over
    chunks of valid rows, so Python reads the next chunk while the database
    stores the last one (the driver releases the GIL while it waits)."""

    def __init__(self, stream: IO[bytes], options: ImportOptions, task_type, config: dict):
        super().__init__(name="accord-import-reader", daemon=True)
        self.counting = _CountingReader(stream)
        self.options, self.task_type, self.config = options, task_type, config
        self.report = ReadReport()
        self.chunks: queue.Queue = queue.Queue(maxsize=3)
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    @property
    def bytes_read(self) -> int:
        return self.counting.bytes_read

    def run(self) -> None:
        try:
            chunk: list[StagedRow] = []
            for row in parse(self.counting, self.options, self.task_type.item_fields):
                if self.stopping.is_set():
                    return
                self.report.lines += 1
                result = (
                    validate_row(row, self.task_type, self.config)
                    if row.fields is not None
                    else [{"field": None, "reason": row.error}]
                )
                if isinstance(result, list):
                    self.report.bad += 1
                    if len(self.report.bad_lines) < MAX_REPORTED_LINES:
                        self.report.bad_lines.append({"line": row.line, "errors": result})
                    continue
                chunk.append(result)
                if len(chunk) >= CHUNK_ROWS:
                    self._hand_over(chunk)
                    chunk = []
            if chunk:
                self._hand_over(chunk)
        except BaseException as exc:  # handed to the main thread, which raises it
            self.error = exc
        finally:
            self._hand_over(None)

    def _hand_over(self, item) -> None:
        while not self.stopping.is_set():
            try:
                self.chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[list[StagedRow]]:
        while (chunk := self.chunks.get()) is not None:
            yield chunk
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


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
