"""Reading a project's reliability data: every submitted annotation, with its
item, annotator, value, guideline version, submission time and the item's
gold, in one streaming query into compact numpy arrays.

The query runs on a server-side cursor and is read in chunks, column by
column: no ORM instance per row, no JSON decoding per row (a value's JSON
text is its identity; each distinct text is decoded once), so a million
annotations cost a few arrays of a few megabytes each.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import orjson
from django.db import connection

from accord.sql import dialect
from annotation.models import Annotation, Assignment
from projects.models import Project
from review.models import GoldRecord, GoldSource

CHUNK = 50_000
# Gold sources an annotator may be measured against: consensus gold holds
# the annotator's own label (DESIGN.md, "Agreement").
SOURCE_CODES = {GoldSource.CONSENSUS: 1, GoldSource.ADJUDICATED: 2, GoldSource.AUDIT_CONFIRMED: 3}
JUDGED = (2, 3)
NO_VERSION = -1
# Time zones differ from UTC by whole quarter hours: a submission's local
# week is the same for every time in its quarter hour.
QUARTER = 900


class _Codes(dict):
    """JSON text → a dense code, assigned on first sight."""

    def __missing__(self, key: str) -> int:
        code = self[key] = len(self)
        return code


@dataclass
class Reliability:
    """One row per submitted annotation, sorted by item."""

    item: np.ndarray  # int64 item id
    annotator: np.ndarray  # int32 index into ``annotators``
    code: np.ndarray  # int32 index into ``values``
    version: np.ndarray  # int32 guideline version, NO_VERSION when none
    week: np.ndarray  # int32 ISO week of submission in the project's zone (yyyyww)
    gold: np.ndarray  # int32 code of the item's gold value, -1 when none or excluded
    gold_source: np.ndarray  # int8: 0 none, else SOURCE_CODES
    values: list  # decoded canonical values, by code
    annotators: list[int]  # user ids, by index

    @property
    def size(self) -> int:
        return len(self.item)


def _sql() -> str:
    stamp = dialect().epoch_seconds("n.created_at")
    return (
        f"SELECT n.item_id, n.annotator_id, n.value, COALESCE(n.guideline_version, -1), "  # noqa: S608
        f"{stamp}, g.value, COALESCE(g.source, ''), COALESCE(g.excluded, FALSE) "
        f"FROM {Annotation._meta.db_table} n "
        f"JOIN {Assignment._meta.db_table} a ON a.id = n.assignment_id AND a.state = 'submitted' "
        f"LEFT JOIN {GoldRecord._meta.db_table} g ON g.item_id = n.item_id "
        "WHERE n.project_id = %s ORDER BY n.item_id, n.id"
    )


def _text(raw) -> str:
    # A raw cursor hands jsonb over as text; SQLite as stored text.
    return raw if isinstance(raw, str) else orjson.dumps(raw).decode()


def read_reliability(
    project: Project, *, progress: Callable[[int], None] | None = None
) -> Reliability:
    """The project's reliability data, read in one streaming query."""
    codes, people = _Codes(), _Codes()
    item: list[int] = []
    annotator: list[int] = []
    code: list[int] = []
    version: list[int] = []
    stamp: list[int] = []
    gold: list[int] = []
    source: list[int] = []
    cursor = connection.chunked_cursor()
    try:
        cursor.execute(_sql(), [project.pk])
        while rows := cursor.fetchmany(CHUNK):
            cols = list(zip(*rows, strict=True))
            item.extend(cols[0])
            annotator.extend(map(people.__getitem__, cols[1]))
            code.extend(map(codes.__getitem__, map(_text, cols[2])))
            version.extend(cols[3])
            stamp.extend(cols[4])
            gold.extend(
                -1 if raw is None or excluded else codes[_text(raw)]
                for raw, excluded in zip(cols[5], cols[7], strict=True)
            )
            source.extend(SOURCE_CODES.get(s, 0) for s in cols[6])
            if progress is not None:
                progress(len(item))
    finally:
        cursor.close()
    return Reliability(
        item=np.asarray(item, dtype=np.int64),
        annotator=np.asarray(annotator, dtype=np.int32),
        code=np.asarray(code, dtype=np.int32),
        version=np.asarray(version, dtype=np.int32),
        week=_weeks(np.asarray(stamp, dtype=np.int64), project.time_zone),
        gold=np.asarray(gold, dtype=np.int32),
        gold_source=np.asarray(source, dtype=np.int8),
        values=[_canonical(orjson.loads(text)) for text in codes],
        annotators=list(people),
    )


def value_of(text: str):
    """A value's JSON text decoded as the coefficients take it."""
    return _canonical(orjson.loads(text))


def _canonical(value):
    # Lists (multi-label values) become tuples, so values can be hashed.
    return tuple(value) if isinstance(value, list) else value


def _weeks(stamps: np.ndarray, time_zone: str) -> np.ndarray:
    """ISO week (yyyyww) of each epoch second in ``time_zone``, converting
    each distinct quarter hour once."""
    if not len(stamps):
        return np.zeros(0, dtype=np.int32)
    zone = zoneinfo.ZoneInfo(time_zone)
    quarters, inverse = np.unique(stamps // QUARTER, return_inverse=True)
    keys = np.empty(len(quarters), dtype=np.int32)
    for i, q in enumerate(quarters.tolist()):
        year, week, _ = datetime.fromtimestamp(q * QUARTER, UTC).astimezone(zone).isocalendar()
        keys[i] = year * 100 + week
    return keys[inverse]
