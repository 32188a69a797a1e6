"""What the exporter hands a format, and what a format gives back.

The exporter (exports/exports.py) streams gold records as ``GoldRow``s, in
item order, to one ``Writer`` per split; a ``Format`` says how the rows become
bytes. Every format writes canonical bytes: the same rows give the same file,
whatever the key order of the dicts inside them, because the version's sha256
over the data files identifies the dataset version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

import orjson

from annotation.tasktypes.base import ExportNotSupported, TaskType

# Sorted keys, compact separators, UTF-8 without escapes, "\n" after each line.
JSON_LINE = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
# Rows are buffered and written in chunks: one out.write per chunk, not per row.
FLUSH_ROWS = 4096
# The columns every flat row carries besides the task type's export_record
# fields: before them, and after them (then "provenance" when asked).
LEAD_COLUMNS = ("item_id", "external_id", "split")
TAIL_COLUMNS = ("source", "revision")
RESERVED_COLUMNS = frozenset(LEAD_COLUMNS + TAIL_COLUMNS + ("provenance",))


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
class ExportOptions:
    provenance: bool = False  # JSONL/CSV/Parquet/hf/raw: add the field/column "provenance"
    system_prompt: str = ""  # chat format
    prompt_template: str = "{text}"  # chat format, classification: {text} and {labels}


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
        format carries no ids (the exporter then checks counts)."""
        return None


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
