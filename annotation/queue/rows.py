"""What every verb of the queue shares: its tables, the annotator's
membership lock, reading rows with SQL of our own, the "not done by me"
probe, and the annotator's own assignment re-read under its locks.

The claim and submit paths read and write with SQL of their own rather
than through the ORM: on the reference machine compiling one ORM query
costs about 1 ms of CPU, several times what the database spends on it,
and those two paths are what every annotator calls every few seconds
(docs/benchmarks.md). Rows become instances through
accord.sql.model_from_row, which applies the ORM's field converters, so
instances come out the same on PostgreSQL and SQLite.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.http import Http404

from accord.errors import Conflict
from accord.sql import dialect, model_columns, model_from_row
from annotation.models import EXCLUDES, Assignment, QueueCursor, ReopenedSlot
from items.models import Item, ItemState
from projects.access import ProjectArchived
from projects.models import Membership, Project

ITEM = Item._meta.db_table
MEMBERSHIP = Membership._meta.db_table
ASSIGNMENT = Assignment._meta.db_table
CURSOR = QueueCursor._meta.db_table
REOPENED = ReopenedSlot._meta.db_table


def member_lock(project_id: int, user_id: int) -> None:
    """Serialise this annotator's queue writes in this project."""
    if not dialect().is_postgresql:
        return  # the IMMEDIATE transaction already holds the database's write lock
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {Membership._meta.db_table} "  # noqa: S608 - our table
            "WHERE project_id = %s AND user_id = %s FOR UPDATE",
            [project_id, user_id],
        )


def assignment_load(pk: int) -> Assignment:
    """The assignment with its item, in one read."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Assignment, 'a')}, {model_columns(Item, 'i')} "  # noqa: S608
            f"FROM {ASSIGNMENT} a JOIN {ITEM} i ON i.id = a.item_id WHERE a.id = %s",
            [pk],
        )
        row = cursor.fetchone()
    assignment = model_from_row(Assignment, row)
    assignment.item = model_from_row(Item, row, len(Assignment._meta.concrete_fields))
    return assignment


def item_lock(item_id: int) -> Item:
    """The item, read under its row lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Item, 'i')} FROM {ITEM} i WHERE i.id = %s{dialect().for_update()}",  # noqa: S608
            [item_id],
        )
        return model_from_row(Item, cursor.fetchone())


def lease_end(project: Project, now) -> Any:
    return now + timedelta(seconds=project.lease_seconds)


def excluded_sql(alias: str = "i") -> str:
    """The caller has not done, skipped, deferred or leased the item.

    A probe of the item's own assignments, whatever the statistics say
    (tests/queue/test_queue_plans_without_statistics.py). OFFSET 0 keeps it
    a correlated subquery run per candidate in queue order, never an
    anti-join: as one, once the planner expects a single row out it prefers
    hashing every assignment of the annotator and scanning every item
    (200,000 rows read per claim for an annotator 100,000 items ahead,
    tests/queue/test_claim_rows_examined.py). ``+ 0`` keeps the annotator
    column out of the index choice: the probe can only start from the item,
    which has a few assignments, not from the annotator, who may have
    100,000 (with no statistics the two look alike to the planner, and it
    took the annotator's index on a fresh database)."""
    states = ", ".join(f"'{s.value}'" for s in EXCLUDES)
    return (
        f"NOT EXISTS (SELECT 1 FROM {ASSIGNMENT} a WHERE a.item_id = {alias}.id "  # noqa: S608
        f"AND a.annotator_id + 0 = %(me)s AND a.state IN ({states}){dialect().fence()})"
    )


# Items found by id go through accord.sql's ``among``: on PostgreSQL
# ``= ANY(ARRAY(…))`` runs the subquery once, first, and probes the primary
# key for each id it gives; as ``IN`` the planner may instead scan the other
# side and probe the subquery per row, which it did from every open item of
# every project when it believed the tables small. The ids fix the project:
# a condition on the item's project beside them would let the planner walk
# the project's queue index instead, filtering on the ids (it did, believing
# the project small); and so would conditions that match that index's
# predicate (hence OPEN_BY_KEY).
#
# An item open with a free slot, written so that it does not match the
# predicate of the queue's partial index (``+ 0``): an item found by its id
# is then read through the primary key, never through a scan of that whole
# index, which the planner took when it believed it small.
OPEN_BY_KEY = "i.state = 'open' AND i.free_slots + 0 > 0"


def fetch_one(sql: str, params: dict) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def free_slot(cursor, item_id: int, *, overlap: int) -> int:
    cursor.execute(
        f"SELECT slot FROM {ASSIGNMENT} WHERE item_id = %s "  # noqa: S608
        "AND state IN ('active', 'submitted')",
        [item_id],
    )
    used = {r[0] for r in cursor.fetchall()}
    return next(n for n in range(1, overlap + 1) if n not in used)


def submitted_count(item_id: int) -> int:
    row = fetch_one(
        f"SELECT COUNT(*) FROM {ASSIGNMENT} WHERE item_id = %(i)s AND state = 'submitted'",  # noqa: S608
        {"i": item_id},
    )
    return row[0]


def refuse_archived(project: Project) -> None:
    if project.is_archived:
        raise ProjectArchived


def own_assignment(assignment: Assignment, user, *, lock_item: bool = False) -> Assignment:
    """``assignment`` (the caller's, checked by projects.access) re-read and
    locked after the caller's membership lock; with ``lock_item``, its item
    too, re-read and locked after both.

    On PostgreSQL the locks are one statement (a round trip each cost CPU on
    both sides): ``FOR UPDATE OF m, a, i`` locks in the order it names, so
    the lock order stays membership → assignment → item, and a row that
    changed while the statement waited is read again in its new version.
    A caller whose membership is gone gets 404, as from projects.access."""
    if assignment.annotator_id != user.pk:
        raise Http404
    columns = model_columns(Assignment, "a")
    joined = ""
    if lock_item:
        columns += ", " + model_columns(Item, "i")
        joined = f" JOIN {ITEM} i ON i.id = a.item_id"
    if dialect().is_postgresql:
        sql = (
            f"SELECT {columns} FROM {MEMBERSHIP} m, {ASSIGNMENT} a{joined} "  # noqa: S608
            "WHERE m.project_id = %s AND m.user_id = %s AND a.id = %s "
            f"FOR UPDATE OF m, a{', i' if lock_item else ''}"
        )
        params = [assignment.project_id, user.pk, assignment.pk]
    else:
        # The IMMEDIATE transaction already holds the database's write lock.
        sql = f"SELECT {columns} FROM {ASSIGNMENT} a{joined} WHERE a.id = %s"  # noqa: S608
        params = [assignment.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise Http404
    locked = model_from_row(Assignment, row)
    if lock_item:
        locked.item = model_from_row(Item, row, len(Assignment._meta.concrete_fields))
    else:
        # The item's data does not change under a lease; whoever needs the
        # item's queue state locks it.
        locked.item = assignment.item
    locked.project = assignment.project
    return locked


def retake_slot(assignment: Assignment, item: Item | None = None) -> Item:
    """A late answer on a lease that ended: accepted while the item still has
    a free slot for it, else 409. ``item``: the item, if the caller locked it."""
    item = item or item_lock(assignment.item_id)
    if item.state != ItemState.OPEN or item.free_slots == 0:
        raise Conflict(
            "Your lease on this item ended and its slot was taken by someone else.",
            code="lease_lost",
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ITEM} SET free_slots = free_slots - 1 WHERE id = %s",  # noqa: S608
            [item.pk],
        )
        assignment.slot = free_slot(cursor, item.pk, overlap=item.overlap)
        if item.free_slots == 1:
            cursor.execute(f"DELETE FROM {REOPENED} WHERE item_id = %s", [item.pk])  # noqa: S608
    item.free_slots -= 1
    return item
