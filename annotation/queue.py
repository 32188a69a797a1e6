"""The task queue: claims, leases, submissions and their revisions.

The rules (DESIGN.md, "The queue") and how this module keeps them:

* **Exact overlap.** An item has ``free_slots`` (CHECK 0..overlap). A claim
  takes a slot with a conditional decrement and records the slot number on
  its assignment; a partial unique index on (item, slot) over active and
  submitted assignments makes a second holder of one slot impossible even
  if this code had a bug. Every path that gives a slot back (expiry, skip,
  later, lead release) goes through ``_release``: one
  ``UPDATE … WHERE state = 'active' RETURNING``, so a slot comes back once.
* **One lease per person.** Claims and every other write of one annotator in
  one project take their membership row ``FOR UPDATE`` first (on SQLite the
  IMMEDIATE transaction does it), so two tabs get the same lease; a partial
  unique index allows one active lease per (project, annotator).
* **Cost independent of how far ahead.** Each annotator has a cursor on the
  queue's sort key (rank, id). Everything before it was, when passed, done by
  them or full; slots that come back behind it are listed in ReopenedSlot and
  checked first. The cursor never moves past a row another claim had locked
  (SKIP LOCKED), since that row may still have a slot for this annotator.
* **Lock order.** membership → item → assignment for claims; membership →
  assignment → item for submits, edits and undo; sweeps take assignment →
  item. A claim only locks items whose assignment for this annotator is not
  active, so it never waits on a row a sweep of the same annotator holds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone

import tasktypes
from accord.errors import Conflict, InvalidInput, ServiceUnavailable
from accord.ratelimit import RateLimited, check_rate
from accord.sql import model_columns, model_from_row
from agreement.services import report_soon_on_commit
from items.models import Item, ItemState
from projects.counters import CounterBatch
from projects.models import GuidelineVersion, Membership, Project
from review.gold import item_settle, submissions

from .models import (
    EXCLUDES,
    Annotation,
    AnnotationRevision,
    Assignment,
    AssignmentState,
    QueueCursor,
    ReopenedSlot,
    RevisionKind,
)

ITEM = Item._meta.db_table
MEMBERSHIP = Membership._meta.db_table
ASSIGNMENT = Assignment._meta.db_table
CURSOR = QueueCursor._meta.db_table
REOPENED = ReopenedSlot._meta.db_table
MAX_DRAFT_BYTES = 256 * 1024
MAX_REASON = 500
# The beginning of the queue: below any rank and any id.
START = (float("-inf"), 0)


class NothingLeft(Exception):
    """No item for this annotator now. ``reason`` is "done" (nothing left for
    them at all) or "leased" (what is left is leased to others right now, try
    again after ``retry_after`` seconds)."""

    def __init__(self, reason: str, retry_after: int | None = None):
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(reason)


@dataclass(frozen=True)
class Claim:
    assignment: Assignment
    resumed: bool


# --- helpers ------------------------------------------------------------------


def _lock_member(project_id: int, user_id: int) -> None:
    """Serialise this annotator's queue writes in this project."""
    if connection.vendor != "postgresql":
        return  # the IMMEDIATE transaction already holds the database's write lock
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {Membership._meta.db_table} "  # noqa: S608 - our table
            "WHERE project_id = %s AND user_id = %s FOR UPDATE",
            [project_id, user_id],
        )


def _config(project_id: int, number: int) -> tuple[str, dict]:
    from .queue_selectors import config_version

    row = config_version(project_id, number)
    return row.task_type, row.config


# The claim and submit paths read and write with SQL of their own rather
# than through the ORM: on the reference machine compiling one ORM query
# costs about 1 ms of CPU, several times what the database spends on it,
# and those two paths are what every annotator calls every few seconds
# (docs/benchmarks.md). Rows become instances through
# projects.access.model_from_row, which applies the ORM's field converters,
# so instances come out the same on PostgreSQL and SQLite.


def _jsonb() -> str:
    return "%s::jsonb" if connection.vendor == "postgresql" else "%s"


def _load_assignment(pk: int) -> Assignment:
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


def _load_item(pk: int, *, lock: bool = False) -> Item:
    suffix = " FOR UPDATE" if lock and connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Item, 'i')} FROM {ITEM} i WHERE i.id = %s{suffix}",  # noqa: S608
            [pk],
        )
        return model_from_row(Item, cursor.fetchone())


def _lease_end(project: Project, now) -> Any:
    return now + timedelta(seconds=project.lease_seconds)


def _today_key(project: Project, user_id: int, now) -> str:
    import zoneinfo

    day = now.astimezone(zoneinfo.ZoneInfo(project.time_zone)).date().isoformat()
    return f"annotator:{user_id}:day:{day}"


def _excluded_sql(alias: str = "i") -> str:
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
        f"AND a.annotator_id + 0 = %(me)s AND a.state IN ({states}){_fence()})"
    )


def _fence() -> str:
    """Keeps a subquery a subquery: PostgreSQL does not pull a subquery with
    OFFSET into the query around it, so the planner cannot reorder it."""
    return " OFFSET 0" if connection.vendor == "postgresql" else ""


# An item open with a free slot, written so that it does not match the
# predicate of the queue's partial index (``+ 0``): an item found by its id
# (see _among) is then read through the primary key, never through a scan
# of that whole index, which the planner took when it believed it small.
OPEN_BY_KEY = "i.state = 'open' AND i.free_slots + 0 > 0"


def _among(ids_sql: str) -> str:
    """``IN (ids_sql)`` driven from the subquery's rows. On PostgreSQL,
    ``= ANY(ARRAY(…))`` runs the subquery once, first, and probes the
    primary key for each id it gives; as ``IN`` the planner may instead
    scan the other side and probe the subquery per row, which it did from
    every open item of every project when it believed the tables small.
    The ids fix the project: a condition on the item's project beside them
    would let the planner walk the project's queue index instead, filtering
    on the ids (it did, believing the project small); and so would
    conditions that match that index's predicate (OPEN_BY_KEY)."""
    if connection.vendor == "postgresql":
        return f"= ANY(ARRAY({ids_sql}))"
    return f"IN ({ids_sql})"


def _fetch_one(sql: str, params: dict) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _skip_locked() -> str:
    return " FOR UPDATE OF i SKIP LOCKED" if connection.vendor == "postgresql" else ""


# --- releasing slots (the one path) ----------------------------------------------


def _release(where: str, params: list, to_state: str, now) -> list[tuple[int, int, int]]:
    """Move active assignments matching ``where`` to ``to_state`` and give
    their slots back. Returns (assignment id, item id, annotator id) of the
    rows this call moved; a row another caller moved first is not returned,
    so no slot comes back twice."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ASSIGNMENT} SET state = %s, finished_at = %s "  # noqa: S608
            f"WHERE state = 'active' AND {where} RETURNING id, item_id, annotator_id, project_id",
            [to_state, now, *params],
        )
        rows = cursor.fetchall()
        for _, item_id, _, _ in rows:
            cursor.execute(
                f"UPDATE {ITEM} SET free_slots = free_slots + 1 WHERE id = %s",  # noqa: S608
                [item_id],
            )
        if rows:
            cursor.executemany(
                f"INSERT INTO {REOPENED} (project_id, item_id, created_at) "  # noqa: S608
                "VALUES (%s, %s, %s) ON CONFLICT (item_id) DO NOTHING",
                [(project_id, item_id, now) for _, item_id, _, project_id in rows],
            )
    return [(a, i, u) for a, i, u, _ in rows]


def leases_expire(*, project_id: int | None = None, now=None) -> int:
    """Return the slots of leases past their end (the beat task, and lazily
    before a claim says "all leased")."""
    now = now or timezone.now()
    where, params = "expires_at < %s", [now]
    if project_id is not None:
        where, params = "project_id = %s AND expires_at < %s", [project_id, now]
    with transaction.atomic():
        return len(_release(where, params, AssignmentState.EXPIRED, now))


# --- claim ------------------------------------------------------------------------


def assignment_claim(*, project: Project, user) -> Claim:
    """The annotator's lease: their unexpired one, else a new one on the best
    item with a free slot that they have not submitted, skipped or deferred;
    deferred items come last. Raises NothingLeft, or RateLimited."""
    check_rate("claim", user.pk)
    now = timezone.now()
    with transaction.atomic():
        start = _claim_start(project, user, now)
        resumed = _resume(project, start, now)
        if resumed is not None:
            return Claim(resumed, resumed=True)
        item_id, busy, moved = start.reopened, False, None
        if item_id is None:
            item_id, busy, moved = _from_cursor(project, user, start.cursor or START)
        if item_id is None and not busy:
            item_id = _from_deferred(project, user)
        if item_id is not None:
            return Claim(_take(project, user, item_id, now, cursor=moved), resumed=False)
    if busy:
        # Every row we could take was locked by claims still in flight.
        raise NothingLeft("leased", retry_after=1)
    raise _nothing_left(project, user, now)


# Why a claim made after an action gave no assignment: the claim's own 204
# reasons (its Accord-Reason header), and the two ways it can be refused.
NEXT_REASONS = ("nothing-left", "all-leased", "rate-limited", "unavailable")


@dataclass(frozen=True)
class Next:
    """The annotator's lease after an action, or why there is none
    (``reason``, one of NEXT_REASONS, and ``retry_after`` seconds)."""

    assignment: Assignment | None
    reason: str | None = None
    retry_after: int | None = None
    resumed: bool = False


def assignment_next(*, project: Project, user) -> Next:
    """``assignment_claim`` after a submit (or skip, later): the action is
    done whatever the claim answers, so its refusals become a reason here
    instead of an error that would hide what was done."""
    try:
        claim = assignment_claim(project=project, user=user)
    except NothingLeft as empty:
        if empty.reason == "done":
            return Next(None, "nothing-left")
        return Next(None, "all-leased", empty.retry_after)
    except RateLimited as limited:
        return Next(None, "rate-limited", limited.retry_after)
    except ServiceUnavailable as down:
        return Next(None, "unavailable", down.retry_after)
    return Next(claim.assignment, resumed=claim.resumed)


@dataclass(frozen=True)
class _Start:
    cursor: tuple[float, int] | None
    # The active lease's id, negative when it has run out.
    lease: int | None
    # A returned slot this annotator can take, its item locked.
    reopened: int | None


def _claim_start(project: Project, user, now) -> _Start:
    """Lock the annotator's membership row (serialising their claims), then
    read their cursor and their active lease, and take the lock of the
    first item with a returned slot that they can have, unless they hold a
    lease. Two statements: a read in the locking statement would see the
    snapshot taken before the lock was granted, and so miss the lease a
    concurrent claim of the same annotator (another tab) made.

    The returned-slot lookup rides in the second statement rather than in
    one of its own: an annotator far ahead of their partner passes over
    every returned slot (they did those items), and a round trip per claim
    for that was what set their claims apart from a fresh annotator's."""
    _lock_member(project.pk, user.pk)
    rank, item_id, lease, reopened = _fetch_one(
        _start_sql(), {"p": project.pk, "me": user.pk, "now": now}
    )
    cursor = (rank, item_id) if item_id is not None else None
    return _Start(cursor=cursor, lease=lease, reopened=reopened)


@functools.cache
def _start_sql() -> str:
    # Built on first use: the fragments depend on the database's vendor.
    live = (
        f"SELECT 1 FROM {ASSIGNMENT} a WHERE a.project_id = %(p)s "  # noqa: S608 - our tables
        "AND a.annotator_id = %(me)s AND a.state = 'active' AND a.expires_at > %(now)s"
    )
    return (
        f"WITH reopened AS (SELECT i.id FROM {ITEM} i WHERE i.id {_returned_ids()} "  # noqa: S608
        f"AND {OPEN_BY_KEY} "
        f"AND {_excluded_sql()} AND NOT EXISTS ({live}{_fence()}) "
        f"ORDER BY i.rank, i.id LIMIT 1{_skip_locked()}) "
        "SELECT (SELECT c.rank FROM "
        f"{CURSOR} c WHERE c.project_id = %(p)s AND c.annotator_id = %(me)s), "
        f"(SELECT c.item_id FROM {CURSOR} c WHERE c.project_id = %(p)s AND c.annotator_id = %(me)s), "
        "(SELECT CASE WHEN a.expires_at > %(now)s THEN a.id ELSE -a.id END "
        f"FROM {ASSIGNMENT} a WHERE a.project_id = %(p)s AND a.annotator_id = %(me)s "
        "AND a.state = 'active'), "
        "(SELECT id FROM reopened)"
    )


def _returned_ids() -> str:
    """Items of project %(p)s with a returned slot, driven from the
    returned-slot rows (a handful, or none) rather than from the items."""
    return _among(f"SELECT r.item_id FROM {REOPENED} r WHERE r.project_id = %(p)s")  # noqa: S608


def _resume(project: Project, start: _Start, now) -> Assignment | None:
    """Renew and return the annotator's live lease; release one that ran out."""
    if start.lease is None:
        return None
    if start.lease < 0:
        _release("id = %s", [-start.lease], AssignmentState.EXPIRED, now)
        return None
    with connection.cursor() as cursor:
        # Still active: a lead's release or a sweep may have ended it since.
        cursor.execute(
            f"UPDATE {ASSIGNMENT} SET expires_at = %s WHERE id = %s AND state = 'active'",  # noqa: S608
            [_lease_end(project, now), start.lease],
        )
        if cursor.rowcount == 0:
            return None
    return _load_assignment(start.lease)


def _walk_sql(alias: str = "i") -> str:
    """Open items with a free slot, from the cursor on, not done by me."""
    return (
        f"{alias}.project_id = %(p)s AND {alias}.state = 'open' AND {alias}.free_slots > 0 "
        f"AND ({alias}.rank, {alias}.id) >= (%(r)s, %(id)s) AND {_excluded_sql(alias)}"
    )


def _from_cursor(
    project: Project, user, position: tuple[float, int]
) -> tuple[int | None, bool, tuple[float, int] | None]:
    """(item id, busy, moved): the next item from the cursor, or None and
    whether rows were there but all locked by other claims; and where the
    cursor goes, when the caller takes the item and writes the cursor with
    the lease (on PostgreSQL; otherwise it is written here).

    The cursor moves up to the first row this annotator could take, never
    past a row locked by another claim: that row may still have a slot for
    them once the other claim commits."""
    rank, after = position
    params = {"p": project.pk, "me": user.pk, "r": rank, "id": after}
    plain = (
        f"SELECT i.rank, i.id FROM {ITEM} i WHERE {_walk_sql()} "  # noqa: S608
        "ORDER BY i.rank, i.id LIMIT 1"
    )
    if connection.vendor != "postgresql":
        # IMMEDIATE transactions serialise claims: nothing is ever locked.
        first = _fetch_one(plain, params)
        if first is None:
            return None, False, None
        if (rank, after) != first:
            _cursor_set(project.pk, user.pk, first)
        return first[1], False, None
    # One statement, two walks from the cursor: the first row this annotator
    # could take ignoring locks, and the first one not locked by another
    # claim. Each stops at its first match. (A "was anything passed over"
    # test bounded above by a row comparison would not stop: btree ends a
    # scan on the first column only, and in import order every rank is 0.)
    row = _fetch_one(
        f"WITH first AS (SELECT i.rank, i.id FROM {ITEM} i WHERE {_walk_sql()} "  # noqa: S608
        "ORDER BY i.rank, i.id LIMIT 1), "
        f"taken AS (SELECT i.id FROM {ITEM} i WHERE {_walk_sql()} "
        "ORDER BY i.rank, i.id LIMIT 1 FOR UPDATE OF i SKIP LOCKED) "
        "SELECT first.rank, first.id, taken.id FROM first LEFT JOIN taken ON TRUE",
        params,
    )
    if row is None:
        return None, False, None
    first = (row[0], row[1])
    moved = first if (rank, after) != first else None
    if row[2] is not None:
        return row[2], False, moved
    if moved is not None:
        _cursor_set(project.pk, user.pk, moved)
    return None, True, None


def _cursor_set(project_id: int, user_id: int, position: tuple[float, int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CURSOR} (project_id, annotator_id, rank, item_id) "  # noqa: S608
            "VALUES (%s, %s, %s, %s) ON CONFLICT (project_id, annotator_id) "
            "DO UPDATE SET rank = excluded.rank, item_id = excluded.item_id",
            [project_id, user_id, position[0], position[1]],
        )


def _from_deferred(project: Project, user) -> int | None:
    # Driven from the annotator's deferred assignments, each item probed by
    # its key: never from the queue's items (see _among).
    deferred = (
        f"SELECT a.item_id FROM {ASSIGNMENT} a WHERE a.project_id = %(p)s "  # noqa: S608
        "AND a.annotator_id = %(me)s AND a.state = 'deferred'"
    )
    row = _fetch_one(
        f"SELECT i.id FROM {ITEM} i WHERE i.id {_among(deferred)} "  # noqa: S608
        f"AND {OPEN_BY_KEY} "
        f"ORDER BY (SELECT a.finished_at FROM {ASSIGNMENT} a WHERE a.item_id = i.id "
        f"AND a.annotator_id + 0 = %(me)s), i.id LIMIT 1{_skip_locked()}",
        {"p": project.pk, "me": user.pk},
    )
    return row[0] if row else None


def _take(
    project: Project, user, item_id: int, now, *, cursor: tuple[float, int] | None = None
) -> Assignment:
    """Take a slot of a locked item and record the lease; move the
    annotator's queue cursor to ``cursor`` if given."""
    if connection.vendor == "postgresql":
        return _take_in_one_statement(project, user, item_id, now, cursor)
    if cursor is not None:
        _cursor_set(project.pk, user.pk, cursor)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ITEM} SET free_slots = free_slots - 1 "  # noqa: S608
            "WHERE id = %s AND free_slots > 0 AND state = 'open' RETURNING overlap, free_slots",
            [item_id],
        )
        row = cursor.fetchone()
        if row is None:  # cannot happen under the item lock; the CHECK would catch it anyway
            raise Conflict("The item was taken; claim again.")
        if row[1] == 0:
            cursor.execute(f"DELETE FROM {REOPENED} WHERE item_id = %s", [item_id])  # noqa: S608
        slot = _free_slot(cursor, item_id, overlap=row[0])
        cursor.execute(
            f"INSERT INTO {ASSIGNMENT} (project_id, item_id, annotator_id, state, slot, "  # noqa: S608
            "leased_at, expires_at, config_version, guideline_version, skip_reason, created_at) "
            "VALUES (%s, %s, %s, 'active', %s, %s, %s, %s, "
            f"(SELECT MAX(number) FROM {GuidelineVersion._meta.db_table} WHERE project_id = %s), "
            "'', %s) "
            "ON CONFLICT (item_id, annotator_id) DO UPDATE SET state = 'active', "
            "slot = excluded.slot, leased_at = excluded.leased_at, "
            "expires_at = excluded.expires_at, config_version = excluded.config_version, "
            "guideline_version = excluded.guideline_version, finished_at = NULL "
            "RETURNING id",
            [
                project.pk,
                item_id,
                user.pk,
                slot,
                now,
                _lease_end(project, now),
                project.config_version,
                project.pk,
                now,
            ],
        )
        assignment_id = cursor.fetchone()[0]
    return _load_assignment(assignment_id)


@functools.cache
def _take_sql(move_cursor: bool) -> str:
    # Built on first use: the column lists need the database's quoting.
    moved = (
        f""", moved AS (
    INSERT INTO {CURSOR} (project_id, annotator_id, rank, item_id)
    VALUES (%(p)s, %(me)s, %(rank)s, %(at)s) ON CONFLICT (project_id, annotator_id)
    DO UPDATE SET rank = excluded.rank, item_id = excluded.item_id
)"""  # noqa: S608 - our table
        if move_cursor
        else ""
    )
    return f"""
WITH it AS (
    UPDATE {ITEM} SET free_slots = free_slots - 1
    WHERE id = %(item)s AND free_slots > 0 AND state = 'open' RETURNING *
), gone AS (
    DELETE FROM {REOPENED} WHERE item_id = (SELECT id FROM it WHERE free_slots = 0)
), slot AS (
    SELECT MIN(s) AS n FROM it, generate_series(1, it.overlap) AS s
    WHERE s NOT IN (SELECT slot FROM {ASSIGNMENT}
                    WHERE item_id = %(item)s AND state IN ('active', 'submitted'))
), lease AS (
    INSERT INTO {ASSIGNMENT} (project_id, item_id, annotator_id, state, slot, leased_at,
        expires_at, config_version, guideline_version, skip_reason, created_at)
    SELECT %(p)s, %(item)s, %(me)s, 'active', slot.n, %(now)s, %(until)s, %(config)s,
        (SELECT MAX(number) FROM {GuidelineVersion._meta.db_table} WHERE project_id = %(p)s),
        '', %(now)s
    FROM slot
    ON CONFLICT (item_id, annotator_id) DO UPDATE SET state = 'active', slot = excluded.slot,
        leased_at = excluded.leased_at, expires_at = excluded.expires_at,
        config_version = excluded.config_version,
        guideline_version = excluded.guideline_version, finished_at = NULL
    RETURNING *
){moved}
SELECT {model_columns(Assignment, "lease")}, {model_columns(Item, "it")} FROM lease, it
"""  # noqa: S608 - our tables


def _take_in_one_statement(
    project: Project, user, item_id: int, now, move_to: tuple[float, int] | None
) -> Assignment:
    """_take on PostgreSQL: slot, reopened row, free slot number, lease and
    queue cursor in one round trip (the claim is what every annotator calls
    all day)."""
    params = {
        "item": item_id,
        "p": project.pk,
        "me": user.pk,
        "now": now,
        "until": _lease_end(project, now),
        "config": project.config_version,
    }
    if move_to is not None:
        params["rank"], params["at"] = move_to
    with connection.cursor() as cursor:
        cursor.execute(_take_sql(move_to is not None), params)
        row = cursor.fetchone()
    if row is None:  # cannot happen under the item lock; the CHECK would catch it anyway
        raise Conflict("The item was taken; claim again.")
    assignment = model_from_row(Assignment, row)
    assignment.item = model_from_row(Item, row, len(Assignment._meta.concrete_fields))
    return assignment


def _free_slot(cursor, item_id: int, *, overlap: int) -> int:
    cursor.execute(
        f"SELECT slot FROM {ASSIGNMENT} WHERE item_id = %s "  # noqa: S608
        "AND state IN ('active', 'submitted')",
        [item_id],
    )
    used = {r[0] for r in cursor.fetchall()}
    return next(n for n in range(1, overlap + 1) if n not in used)


def _nothing_left(project: Project, user, now) -> NothingLeft:
    """Say why: everything left is leased to others now, or nothing is left.

    Read after the search, in a later snapshot. A lease that ended between
    the two (a skip, a release, an expiry) is no longer a lease but a
    returned slot: that is "try again now", not "done" — else the annotator
    would stop with an item still open to them."""
    # Both driven from rows few by design (the project's active leases, its
    # returned slots), each item probed by its key.
    soonest, returned = _fetch_one(
        f"SELECT (SELECT MIN(a2.expires_at) FROM {ASSIGNMENT} a2 "  # noqa: S608
        "WHERE a2.project_id = %(p)s AND a2.state = 'active' AND a2.annotator_id <> %(me)s "
        f"AND EXISTS (SELECT 1 FROM {ITEM} i WHERE i.id = a2.item_id AND i.state = 'open' "
        f"AND {_excluded_sql()}{_fence()})), "
        f"EXISTS (SELECT 1 FROM {ITEM} i WHERE i.id {_returned_ids()} "
        f"AND {OPEN_BY_KEY} "
        f"AND {_excluded_sql()})",
        {"p": project.pk, "me": user.pk},
    )
    if returned:
        return NothingLeft("leased", retry_after=1)
    if soonest is None:
        return NothingLeft("done")
    if isinstance(soonest, str):  # SQLite returns text from a raw aggregate
        from django.utils.dateparse import parse_datetime

        soonest = parse_datetime(soonest)
    if soonest <= now:
        # Expired but not swept yet: sweep now and let the caller try again.
        leases_expire(project_id=project.pk, now=now)
        return NothingLeft("leased", retry_after=1)
    wait = int((soonest - now).total_seconds()) + 1
    return NothingLeft("leased", retry_after=max(5, min(wait, 60)))


# --- the annotator's own assignment ---------------------------------------------


def _own_assignment(assignment: Assignment, user, *, lock_item: bool = False) -> Assignment:
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
    if connection.vendor == "postgresql":
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


def _lock_item(item_id: int) -> Item:
    return _load_item(item_id, lock=True)


def _clean_draft(value: Any) -> Any:
    import orjson

    try:
        size = len(orjson.dumps(value))
    except TypeError as exc:
        raise InvalidInput("must be JSON", field="value") from exc
    if size > MAX_DRAFT_BYTES:
        raise InvalidInput(f"is larger than {MAX_DRAFT_BYTES // 1024} KB", field="value")
    return value


def _clean_reason(reason: Any, *, required: bool) -> str:
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise InvalidInput("must be text", field="reason")
    reason = reason.strip()
    if required and not reason:
        raise InvalidInput("is required: say why you skip this item", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"is longer than {MAX_REASON} characters", field="reason")
    return reason


def _clean_ms(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 7 * 86_400_000:
        raise InvalidInput("must be a whole number of milliseconds", field=field)
    return value


def _retake_slot(assignment: Assignment, item: Item | None = None) -> Item:
    """A late answer on a lease that ended: accepted while the item still has
    a free slot for it, else 409. ``item``: the item, if the caller locked it."""
    item = item or _lock_item(assignment.item_id)
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
        assignment.slot = _free_slot(cursor, item.pk, overlap=item.overlap)
        if item.free_slots == 1:
            cursor.execute(f"DELETE FROM {REOPENED} WHERE item_id = %s", [item.pk])  # noqa: S608
    item.free_slots -= 1
    return item


@dataclass(frozen=True)
class Submitted:
    annotation: Annotation
    created: bool


def annotation_submit(
    *,
    assignment: Assignment,
    user,
    value: Any,
    active_ms: Any = None,
) -> Submitted:
    """Submit the value for an assignment. The same value again returns the
    same annotation (created=False); a different one after submission,
    a skipped assignment, or an ended lease whose slot was taken: Conflict.

    Whether a pre-annotation was shown is the server's to record, never the
    client's: no claim shows one yet (its ``preannotation`` is always null),
    so every annotation records False."""
    active_ms = _clean_ms(active_ms, "active_ms")
    now = timezone.now()
    with transaction.atomic():
        assignment = _own_assignment(assignment, user, lock_item=True)
        project = assignment.project
        _refuse_archived(project)
        key, config = _config(project.pk, assignment.config_version)
        task_type = tasktypes.get(key)
        clean = task_type.validate_value(value, config, assignment.item.data)
        if assignment.state == AssignmentState.SUBMITTED:
            existing = assignment.annotation
            if task_type.value_key(existing.value) == task_type.value_key(clean):
                return Submitted(existing, created=False)
            raise Conflict(
                "This assignment was already submitted with another value; edit the "
                "annotation instead.",
                code="already_submitted",
                annotation=existing.pk,
            )
        if assignment.state == AssignmentState.SKIPPED:
            raise Conflict("You skipped this item.", code="skipped")
        item = assignment.item
        if assignment.state == AssignmentState.ACTIVE:
            if item.state != ItemState.OPEN:
                raise Conflict("This item was withdrawn from the queue.", code="item_closed")
        else:
            item = _retake_slot(assignment, item)
        counts = CounterBatch(project.pk)
        annotation, submitted = _record_submission(
            assignment, item, clean, now, counts, active_ms=active_ms, shown=False
        )
        if submitted >= item.overlap:
            item_compare(item=item, now=now, project=project, counts=counts)
        counts.flush()
        return Submitted(annotation, created=True)


def _refuse_archived(project: Project) -> None:
    from projects.access import ProjectArchived

    if project.is_archived:
        raise ProjectArchived


def _submitted_count(item_id: int) -> int:
    row = _fetch_one(
        f"SELECT COUNT(*) FROM {ASSIGNMENT} WHERE item_id = %(i)s AND state = 'submitted'",  # noqa: S608
        {"i": item_id},
    )
    return row[0]


def _record_submission(
    assignment: Assignment, item: Item, value: Any, now, counts: CounterBatch, *, active_ms, shown
) -> tuple[Annotation, int]:
    """Write the annotation, its first revision and the assignment's new
    state; return the annotation and how many submitted ones the item has."""
    annotation = Annotation(
        project_id=assignment.project_id,
        item=item,
        annotator_id=assignment.annotator_id,
        assignment=assignment,
        value=value,
        config_version=assignment.config_version,
        guideline_version=assignment.guideline_version,
        lease_to_submit_ms=min(int((now - assignment.leased_at).total_seconds() * 1000), 2**31 - 1),
        active_ms=active_ms,
        preannotation_shown=shown,
        created_at=now,
        updated_at=now,
    )
    encoded = orjson.dumps(value).decode()
    if connection.vendor == "postgresql":
        submitted = _record_in_one_statement(annotation, assignment, encoded, now)
    else:
        submitted = _record_in_statements(annotation, assignment, encoded, now)
    assignment.state = AssignmentState.SUBMITTED
    user_id, project = assignment.annotator_id, assignment.project
    counts.add("annotations:total", 1)
    counts.add(f"annotator:{user_id}:submitted", 1)
    counts.add(f"annotator:{user_id}:pending", 1)
    counts.add(_today_key(project, user_id, now), 1)
    return annotation, submitted


_RECORD_SQL = f"""
WITH n AS (
    SELECT COUNT(*) + 1 AS number FROM {AnnotationRevision._meta.db_table}
    WHERE assignment_id = %(a)s
), ann AS (
    INSERT INTO {Annotation._meta.db_table} (project_id, item_id, annotator_id, assignment_id,
        value, config_version, guideline_version, lease_to_submit_ms, active_ms,
        preannotation_shown, revision, created_at, updated_at)
    SELECT %(p)s, %(i)s, %(u)s, %(a)s, %(v)s::jsonb, %(cv)s, %(gv)s, %(ls)s, %(am)s, %(shown)s,
        n.number, %(now)s, %(now)s FROM n
    RETURNING id, revision
), rev AS (
    INSERT INTO {AnnotationRevision._meta.db_table} (project_id, item_id, annotator_id,
        assignment_id, number, kind, value, created_at)
    SELECT %(p)s, %(i)s, %(u)s, %(a)s, n.number, 'submit', %(v)s::jsonb, %(now)s FROM n
), done AS (
    UPDATE {ASSIGNMENT} SET state = 'submitted', slot = %(slot)s, finished_at = %(now)s,
        draft = NULL WHERE id = %(a)s
)
SELECT ann.id, ann.revision,
    (SELECT COUNT(*) FROM {ASSIGNMENT} WHERE item_id = %(i)s AND state = 'submitted') + 1
FROM ann
"""  # noqa: S608 - our tables


def _record_in_one_statement(annotation, assignment, encoded: str, now) -> int:
    """Annotation, revision and assignment state in one round trip; returns
    how many submitted annotations the item now has. (The count reads the
    statement's snapshot, before this assignment's own update: hence + 1.
    The item is locked, so no other submit of it runs meanwhile.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL,
            {
                "a": assignment.pk,
                "p": annotation.project_id,
                "i": annotation.item_id,
                "u": annotation.annotator_id,
                "v": encoded,
                "cv": annotation.config_version,
                "gv": annotation.guideline_version,
                "ls": annotation.lease_to_submit_ms,
                "am": annotation.active_ms,
                "shown": annotation.preannotation_shown,
                "now": now,
                "slot": assignment.slot,
            },
        )
        annotation.pk, annotation.revision, submitted = cursor.fetchone()
    return submitted


def _record_in_statements(annotation, assignment, encoded: str, now) -> int:
    number = _revision_count(assignment.pk) + 1
    annotation.revision = number
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Annotation._meta.db_table} (project_id, item_id, annotator_id, "  # noqa: S608
            "assignment_id, value, config_version, guideline_version, lease_to_submit_ms, "
            "active_ms, preannotation_shown, revision, created_at, updated_at) "
            f"VALUES (%s, %s, %s, %s, {_jsonb()}, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [
                annotation.project_id,
                annotation.item_id,
                annotation.annotator_id,
                assignment.pk,
                encoded,
                annotation.config_version,
                annotation.guideline_version,
                annotation.lease_to_submit_ms,
                annotation.active_ms,
                annotation.preannotation_shown,
                number,
                now,
                now,
            ],
        )
        annotation.pk = cursor.fetchone()[0]
        _insert_revision(
            cursor, assignment, annotation.item_id, number, RevisionKind.SUBMIT, encoded, now
        )
        cursor.execute(
            f"UPDATE {ASSIGNMENT} SET state = 'submitted', slot = %s, finished_at = %s, "  # noqa: S608
            "draft = NULL WHERE id = %s",
            [assignment.slot, now, assignment.pk],
        )
    return _submitted_count(annotation.item_id)


def _revision_count(assignment_id: int) -> int:
    row = _fetch_one(
        f"SELECT COUNT(*) FROM {AnnotationRevision._meta.db_table} WHERE assignment_id = %(a)s",  # noqa: S608
        {"a": assignment_id},
    )
    return row[0]


def _insert_revision(cursor, assignment, item_id, number, kind, encoded, now) -> None:
    cursor.execute(
        f"INSERT INTO {AnnotationRevision._meta.db_table} (project_id, item_id, annotator_id, "  # noqa: S608
        f"assignment_id, number, kind, value, created_at) VALUES (%s, %s, %s, %s, %s, %s, "
        f"{_jsonb()}, %s)",
        [
            assignment.project_id,
            item_id,
            assignment.annotator_id,
            assignment.pk,
            number,
            kind,
            encoded,
            now,
        ],
    )


def item_compare(
    *, item: Item, now=None, project: Project | None = None, counts: CounterBatch | None = None
) -> str:
    """Compare an item's submitted annotations through its task type under
    the project's consensus rule; record agreed/disagreed and move it out of
    the annotation queue. Call with the item locked; pass ``counts`` to write
    the counters with the caller's (else they are written here)."""
    now = now or timezone.now()
    project = project or Project.objects.get(pk=item.project_id)
    batch = counts or CounterBatch(project.pk)
    key, config = _config(project.pk, project.config_version)
    # Comparing, consensus gold and the review policy belong to review/.
    rows = submissions(item.pk)
    to_state, outcome = item_settle(
        item=item,
        project=project,
        task_type=tasktypes.get(key),
        config=config,
        rows=rows,
        now=now,
        counts=batch,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ITEM} SET state = %s, outcome = %s, compared_at = %s WHERE id = %s",  # noqa: S608
            [to_state, outcome, now, item.pk],
        )
    batch.add(f"items:{item.state}", -1)
    batch.add(f"items:{to_state}", 1)
    batch.add(f"items:{outcome}", 1)
    # New reliability data: the agreement report follows the burst.
    report_soon_on_commit(project.pk)
    _clear_pending(item, batch)
    if item.free_slots or len(rows) != item.overlap:
        # Leases may still be held (the overlap was lowered, or a lead
        # overrode): let them go. With every slot submitted there are none,
        # and no reopened-slot row (the take that filled the item removed it).
        _release("item_id = %s", [item.pk], AssignmentState.RELEASED, now)
        ReopenedSlot.objects.filter(item=item).delete()
    item.state, item.outcome, item.compared_at = to_state, outcome, now
    if counts is None:
        batch.flush()
    return outcome


def _clear_pending(item: Item, counts: CounterBatch) -> None:
    """The item left the queue: it no longer counts as done-but-open for
    those who submitted or skipped it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT annotator_id FROM {ASSIGNMENT} WHERE item_id = %s "  # noqa: S608
            "AND state IN ('submitted', 'skipped')",
            [item.pk],
        )
        for (user_id,) in cursor.fetchall():
            counts.add(f"annotator:{user_id}:pending", -1)


# --- skip, later, draft ---------------------------------------------------------------


def assignment_skip(*, assignment: Assignment, user, reason: Any) -> Assignment:
    """Never offer this item to this annotator again; its slot goes back."""
    reason = _clean_reason(reason, required=True)
    check_rate("skip", user.pk)
    now = timezone.now()
    with transaction.atomic():
        assignment = _own_assignment(assignment, user, lock_item=True)
        _refuse_archived(assignment.project)
        if assignment.state == AssignmentState.SUBMITTED:
            raise Conflict("You submitted this item; undo the submission first.", code="submitted")
        if assignment.state == AssignmentState.SKIPPED:
            return assignment
        # "Pending" counts skipped items that are still open, and the item of
        # a lease that had ended may have been completed by others meanwhile.
        # Its state is read under its lock: a comparison either runs after
        # this skip and uncounts it, or ran before and this skip counts nothing.
        item_open = assignment.item.state == ItemState.OPEN
        _release("id = %s", [assignment.pk], AssignmentState.SKIPPED, now)
        # A lease that had already ended (expired, released, later) is marked
        # skipped too, without a slot to give back.
        Assignment.objects.filter(pk=assignment.pk).update(
            state=AssignmentState.SKIPPED, skip_reason=reason, finished_at=now, draft=None
        )
        counts = CounterBatch(assignment.project_id)
        counts.add(f"annotator:{user.pk}:skipped", 1)
        if item_open:
            counts.add(f"annotator:{user.pk}:pending", 1)
        counts.add("skips:total", 1)
        counts.flush()
        assignment.state, assignment.skip_reason = AssignmentState.SKIPPED, reason
        return assignment


def assignment_unskip(*, assignment: Assignment, user) -> Assignment:
    """Take back a skip: the item becomes the annotator's lease again (with
    the config and guideline versions of now), taking one of its free slots,
    and the lease they held instead goes back to the queue, as with undo.
    Conflict when the assignment is not skipped, or when the item is no
    longer open or others have taken every slot it had."""
    now = timezone.now()
    with transaction.atomic():
        assignment = _own_assignment(assignment, user, lock_item=True)
        project = assignment.project
        _refuse_archived(project)
        if assignment.state != AssignmentState.SKIPPED:
            raise Conflict("You did not skip this item.", code="not_skipped")
        item = assignment.item
        if item.state != ItemState.OPEN or item.free_slots == 0:
            raise Conflict(
                "Others have given this item all the annotations it needs; "
                "it cannot come back to you.",
                code="no_free_slot",
            )
        _release(
            "project_id = %s AND annotator_id = %s",
            [project.pk, user.pk],
            AssignmentState.EXPIRED,
            now,
        )
        _retake_slot(assignment, item)
        assignment.state, assignment.skip_reason = AssignmentState.ACTIVE, ""
        assignment.leased_at, assignment.expires_at = now, _lease_end(project, now)
        assignment.finished_at = None
        assignment.config_version = project.config_version
        assignment.guideline_version = (
            GuidelineVersion.objects.filter(project_id=project.pk)
            .order_by("-number")
            .values_list("number", flat=True)
            .first()
        )
        assignment.save(
            update_fields=[
                "state",
                "skip_reason",
                "slot",
                "leased_at",
                "expires_at",
                "finished_at",
                "config_version",
                "guideline_version",
            ]
        )
        counts = CounterBatch(project.pk)
        counts.add(f"annotator:{user.pk}:skipped", -1)
        counts.add(f"annotator:{user.pk}:pending", -1)
        counts.add("skips:total", -1)
        counts.flush()
        return assignment


def assignment_later(*, assignment: Assignment, user) -> Assignment:
    """Give the item back for now: the annotator gets it again after the
    rest of their queue."""
    now = timezone.now()
    with transaction.atomic():
        assignment = _own_assignment(assignment, user)
        _refuse_archived(assignment.project)
        if assignment.state != AssignmentState.ACTIVE:
            raise Conflict("This lease has ended already.", code="not_active")
        _release("id = %s", [assignment.pk], AssignmentState.DEFERRED, now)
        assignment.state = AssignmentState.DEFERRED
        return assignment


def assignment_draft(*, assignment: Assignment, user, value: Any) -> Assignment:
    """Keep the annotator's work in progress and renew the lease. A lease
    that ended is taken again if the slot is still free (the draft of a
    dropped connection arriving late)."""
    value = _clean_draft(value)
    now = timezone.now()
    with transaction.atomic():
        assignment = _own_assignment(assignment, user)
        project = assignment.project
        _refuse_archived(project)
        if assignment.state in (AssignmentState.EXPIRED, AssignmentState.RELEASED):
            _retake_lease(assignment)
        elif assignment.state != AssignmentState.ACTIVE:
            raise Conflict("This assignment is closed; its draft cannot change.", code="closed")
        assignment.draft, assignment.draft_saved_at = value, now
        assignment.expires_at = _lease_end(project, now)
        Assignment.objects.filter(pk=assignment.pk).update(
            draft=value,
            draft_saved_at=now,
            expires_at=assignment.expires_at,
            state=AssignmentState.ACTIVE,
            slot=assignment.slot,
            finished_at=None,
        )
        assignment.state = AssignmentState.ACTIVE
        return assignment


def _retake_lease(assignment: Assignment) -> None:
    if Assignment.objects.filter(
        project_id=assignment.project_id,
        annotator_id=assignment.annotator_id,
        state=AssignmentState.ACTIVE,
    ).exists():
        raise Conflict("Your lease on this item ended and you hold another one.", code="lease_lost")
    _retake_slot(assignment)
    ReopenedSlot.objects.filter(item_id=assignment.item_id, item__free_slots=0).delete()


# --- edit and undo ------------------------------------------------------------------------


def _own_annotation(annotation: Annotation, user) -> tuple[Annotation, Assignment, Item]:
    """The caller's annotation (checked by projects.access), locked with its
    assignment and item; Conflict once the item was compared."""
    if annotation.annotator_id != user.pk or annotation.assignment_id is None:
        raise Http404
    assignment = _own_assignment(annotation.assignment, user, lock_item=True)
    item = assignment.item
    # Read again under the locks: an undo from another tab may have deleted
    # it while this request waited (a 404 then, not a DoesNotExist 500).
    annotation = Annotation.objects.filter(pk=annotation.pk).first()
    if annotation is None:
        raise Http404
    _refuse_archived(assignment.project)
    if item.compared_at is not None:
        raise Conflict(
            "This item has all its annotations and was compared; your annotation is frozen.",
            code="frozen",
        )
    if item.state != ItemState.OPEN:
        raise Conflict(
            "A lead took this item out of the queue; your annotation is kept as it is.",
            code="frozen",
        )
    return annotation, assignment, item


def annotation_edit(*, annotation: Annotation, user, value: Any) -> Annotation:
    """Change one's own submitted value until the item is compared; every
    value is kept as a revision."""
    with transaction.atomic():
        annotation, assignment, item = _own_annotation(annotation, user)
        key, config = _config(assignment.project_id, assignment.config_version)
        task_type = tasktypes.get(key)
        clean = task_type.validate_value(value, config, item.data)
        if task_type.value_key(clean) == task_type.value_key(annotation.value):
            return annotation
        annotation.revision = AnnotationRevision.objects.filter(assignment=assignment).count() + 1
        annotation.value = clean
        annotation.save(update_fields=["value", "revision", "updated_at"])
        AnnotationRevision.objects.create(
            project_id=assignment.project_id,
            item=item,
            annotator=user,
            assignment=assignment,
            number=annotation.revision,
            kind=RevisionKind.EDIT,
            value=clean,
        )
        return annotation


def annotation_undo(*, annotation: Annotation, user) -> Assignment:
    """Withdraw one's own submission until the item is compared: the item
    becomes the annotator's lease again with the old value as its draft, and
    the lease they held instead goes back to the queue."""
    now = timezone.now()
    with transaction.atomic():
        annotation, assignment, item = _own_annotation(annotation, user)
        project = assignment.project
        _release(
            "project_id = %s AND annotator_id = %s",
            [project.pk, user.pk],
            AssignmentState.EXPIRED,
            now,
        )
        number = AnnotationRevision.objects.filter(assignment=assignment).count() + 1
        AnnotationRevision.objects.create(
            project_id=project.pk,
            item=item,
            annotator=user,
            assignment=assignment,
            number=number,
            kind=RevisionKind.UNDO,
            value=None,
        )
        old_value = annotation.value
        annotation.delete()
        assignment.state = AssignmentState.ACTIVE
        assignment.draft, assignment.draft_saved_at = old_value, now
        assignment.leased_at, assignment.expires_at = now, _lease_end(project, now)
        assignment.finished_at = None
        assignment.save(
            update_fields=[
                "state",
                "draft",
                "draft_saved_at",
                "leased_at",
                "expires_at",
                "finished_at",
            ]
        )
        counts = CounterBatch(project.pk)
        counts.add("annotations:total", -1)
        counts.add(f"annotator:{user.pk}:submitted", -1)
        counts.add(f"annotator:{user.pk}:pending", -1)
        counts.add(_today_key(project, user.pk, annotation.created_at), -1)
        counts.flush()
        return assignment


def last_submission(*, project: Project, user) -> Annotation | None:
    """The annotator's latest annotation that can still be undone."""
    annotation = (
        Annotation.objects.filter(project=project, annotator=user, assignment__isnull=False)
        .select_related("item")
        .order_by("-id")
        .first()
    )
    if (
        annotation is None
        or annotation.item.compared_at is not None
        or annotation.item.state != ItemState.OPEN
    ):
        return None
    return annotation


# --- the lead's side ------------------------------------------------------------------------


def lease_release(*, project: Project, assignment_id: Any) -> bool:
    """A lead gives a lease back to the queue. False if it had ended already."""
    try:
        pk = int(assignment_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    if not Assignment.objects.filter(pk=pk, project=project).exists():
        raise Http404
    with transaction.atomic():
        return bool(_release("id = %s", [pk], AssignmentState.RELEASED, timezone.now()))


def item_override(*, project: Project, item_id: Any, action: str) -> Item:
    """A lead settles an item that cannot reach its overlap: compare it with
    the annotations it has, or exclude it from gold."""
    if action not in ("compare", "exclude"):
        raise InvalidInput('must be "compare" or "exclude"', field="action")
    try:
        pk = int(item_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    now = timezone.now()
    with transaction.atomic():
        item = Item.objects.select_for_update().filter(project=project, pk=pk).first()
        if item is None:
            raise Http404
        if item.state != ItemState.OPEN:
            raise Conflict("The item is not waiting for annotations any more.", state=item.state)
        _release("item_id = %s", [item.pk], AssignmentState.RELEASED, now)
        submitted = _submitted_count(item.pk)
        if action == "compare":
            if submitted == 0:
                raise Conflict("The item has no annotations to compare.", code="no_annotations")
            Item.objects.filter(pk=item.pk).update(overlap=submitted, free_slots=0)
            ReopenedSlot.objects.filter(item=item).delete()
            item.overlap, item.free_slots = submitted, 0
            item_compare(item=item, now=now, project=project)
            return item
        Item.objects.filter(pk=item.pk).update(state=ItemState.EXCLUDED, compared_at=now)
        counts = CounterBatch(project.pk)
        counts.add(f"items:{ItemState.OPEN}", -1)
        counts.add(f"items:{ItemState.EXCLUDED}", 1)
        _clear_pending(item, counts)
        counts.flush()
        ReopenedSlot.objects.filter(item=item).delete()
        item.state = ItemState.EXCLUDED
        return item
