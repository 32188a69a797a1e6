"""The gold query: which records an export holds (its filters as SQL), the
statement that streams them in item order, the submitted annotations'
stream beside it, and the metadata fields of the records. The SQL that
differs between PostgreSQL (server mode) and SQLite (embedded mode) comes
from accord/sql.py's dialect; both give the rows the same values."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import connection

from accord.sql import dialect
from annotation.models import Annotation, Assignment
from items.models import Item
from projects.models import Project
from review.models import GoldRecord, GoldRevision

from .datasheet import Ratings
from .formats.base import MetaColumn, meta_kind
from .splits import SPLIT_COLUMN, SPLIT_JOIN

ITEM = Item._meta.db_table
GOLD = GoldRecord._meta.db_table
REVISION = GoldRevision._meta.db_table
ANNOTATION = Annotation._meta.db_table
ASSIGNMENT = Assignment._meta.db_table


@dataclass(frozen=True)
class Selection:
    """The export's records: ``sql`` is their FROM … WHERE … (aliases i, g);
    ``ids`` a SELECT of their item ids (``item_id``), for counting, that
    leaves out the item table when only gold is filtered (half the count's
    time at a million records). Both take ``params``."""

    sql: str
    ids: str
    params: list


def records_selection(project: Project, params: dict, *, raw: bool) -> Selection:
    """The records the export's filters select."""
    filters = params["filters"]
    sql = dialect()
    conds: list[str] = []
    values: list[Any] = []
    if filters["source"]:
        cond, more = sql.one_of("g.source", filters["source"])
        conds.append(cond)
        values += more
    if filters["min_guideline_version"] is not None:
        conds.append("g.min_guideline_version >= %s")
        values.append(filters["min_guideline_version"])
    if filters["labels"]:
        cond, more = sql.has_label(filters["labels"])
        conds.append(cond)
        values += more
    # SQLite compares times as text: the stored UTC times ("… 03:04:05.120000"
    # from the ORM, the same with "+00:00" from raw SQL) order correctly
    # against the parameter in the ORM's form.
    time = connection.ops.adapt_datetimefield_value
    if filters["decided_from"]:
        conds.append("g.decided_at >= %s")
        values.append(time(datetime.fromisoformat(filters["decided_from"])))
    if filters["decided_to"]:
        conds.append("g.decided_at < %s")
        values.append(time(datetime.fromisoformat(filters["decided_to"])))
    gold_filtered = bool(conds)
    if not filters["include_excluded"]:
        conds.append("NOT g.excluded")
    gold_cond = " AND ".join(conds) or "TRUE"
    if not raw:
        where = f"WHERE g.project_id = %s AND {gold_cond}"
        return Selection(
            sql=f"FROM {GOLD} g JOIN {ITEM} i ON i.id = g.item_id {where}",  # noqa: S608
            ids=f"SELECT g.item_id FROM {GOLD} g {where}",  # noqa: S608
            params=[project.pk, *values],
        )
    # Raw: every item with a submitted annotation, gold or not; an item
    # without gold passes unless a filter asks something of the gold.
    no_gold = "FALSE" if gold_filtered else "g.id IS NULL"
    sql = (
        f"FROM {ITEM} i LEFT JOIN {GOLD} g ON g.item_id = i.id "  # noqa: S608
        f"WHERE i.project_id = %s AND EXISTS (SELECT 1 FROM {ANNOTATION} n "
        f"JOIN {ASSIGNMENT} a ON a.id = n.assignment_id AND a.state = 'submitted' "
        f"WHERE n.item_id = i.id) AND ({no_gold} OR (g.id IS NOT NULL AND {gold_cond}))"
    )
    return Selection(sql=sql, ids=f"SELECT i.id AS item_id {sql}", params=[project.pk, *values])


# A record's gold revisions (the raw format's history), as a JSON array:
# (key, column, kind), the kind telling SQLite how to make the column JSON.
HISTORY_FIELDS = (
    ("revision", "r.number", ""),
    ("value", "r.value", "json"),
    ("excluded", "r.excluded", "bool"),
    ("source", "r.source", ""),
    ("reviewer", "r.reviewer_id", ""),
    ("reason", "r.reason", ""),
    ("reason_code", "r.reason_code", ""),
    ("decided_at", "r.decided_at", "time"),
)
HISTORY_SOURCE = f"FROM {REVISION} r WHERE r.gold_id = g.id"  # noqa: S608 - our table


def records_sql(selection: str, *, history: bool) -> str:
    sql = dialect()
    join, column = (
        sql.aggregate("hist", HISTORY_FIELDS, HISTORY_SOURCE, "r.number")
        if history
        else ("", "NULL")
    )
    from_part, where_part = selection.split(" WHERE ", 1)
    return (
        f"SELECT i.id, i.external_id, {sql.json_text('i.data')}, {sql.json_text('i.meta')}, "
        f"{SPLIT_COLUMN}, g.id, {sql.json_text('g.value')}, "
        "COALESCE(g.excluded, FALSE), COALESCE(g.source, ''), COALESCE(g.revision, 0), "
        f"{sql.time_text('g.decided_at')}, g.reviewer_id, COALESCE(g.reason, ''), "
        "COALESCE(g.reason_code, ''), g.config_version, g.guideline_version, "
        f"g.min_guideline_version, {column} {from_part} {SPLIT_JOIN} {join} "
        f"WHERE {where_part} ORDER BY i.id"
    )


def annotations_sql() -> str:
    """The project's submitted annotations in the records' order (item id),
    each item's by id: the provenance's, streamed beside the records and
    merged with them in Python. Aggregating them per record in SQL (a
    correlated subquery for each) cost PostgreSQL three times the rest of
    the read; a stream in item order is a merge of two indexes."""
    sql = dialect()
    return (
        f"SELECT n.item_id, n.id, n.annotator_id, {sql.json_text('n.value')}, "  # noqa: S608 - ours
        f"n.guideline_version, n.config_version, {sql.time_text('n.created_at')} "
        f"FROM {ANNOTATION} n JOIN {ASSIGNMENT} a ON a.id = n.assignment_id "
        "AND a.state = 'submitted' WHERE n.project_id = %s ORDER BY n.item_id, n.id"
    )


class AnnotationsByItem:
    """The annotation stream of ``annotations_sql``, taken item by item in
    ascending item order; items the records skip (filtered out) are passed
    over. The annotations taken go to ``ratings`` too."""

    def __init__(self, chunks: Iterator[list[tuple]], ratings: Ratings) -> None:
        self._groups = self._grouped(chunks)
        self._next = next(self._groups, None)
        self._ratings = ratings

    @staticmethod
    def _grouped(chunks: Iterator[list[tuple]]) -> Iterator[tuple[int, list[dict], list, list]]:
        loads = orjson.loads
        current, group, people, texts = None, [], [], []
        for rows in chunks:
            for item_id, pk, annotator, value, guideline, config, submitted_at in rows:
                if item_id != current:
                    if group:
                        yield current, group, people, texts
                    current, group, people, texts = item_id, [], [], []
                group.append(
                    {"id": pk, "annotator": annotator, "value": loads(value),
                     "guideline_version": guideline, "config_version": config,
                     "submitted_at": submitted_at}
                )  # fmt: skip
                people.append(annotator)
                texts.append(value)
        if group:
            yield current, group, people, texts

    def take(self, item_id: int) -> list[dict]:
        """The submitted annotations of ``item_id`` (none: an empty list)."""
        upcoming = self._next
        while upcoming is not None and upcoming[0] < item_id:
            upcoming = next(self._groups, None)
        if upcoming is not None and upcoming[0] == item_id:
            self._next = next(self._groups, None)
            self._ratings.add(upcoming[2], upcoming[3])
            return upcoming[1]
        self._next = upcoming
        return []


def meta_columns_read(selected: Selection) -> tuple[MetaColumn, ...]:
    """The metadata fields of the selected items and the JSON types of their
    values, in one query: a flat format's metadata columns and their types
    (formats.base.meta_kind) come from every record of the export, so they
    do not depend on which record comes first, and the same records give
    the same columns on both databases."""
    from_part, where_part = selected.sql.split(" WHERE ", 1)
    kind, each, empty = dialect().json_keys("i.meta")
    types: dict[str, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT k.key, {kind} {from_part} {each} WHERE {where_part} AND {empty}",  # noqa: S608
            selected.params,
        )
        for key, kind_of in cursor.fetchall():
            types.setdefault(key, set()).add(kind_of)
    return tuple(MetaColumn(key, meta_kind(types[key])) for key in sorted(types))
