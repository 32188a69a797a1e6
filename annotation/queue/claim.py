"""Claiming: the annotator's lease, resumed or taken from their cursor.

* **One lease per person.** A claim takes the annotator's membership row
  ``FOR UPDATE`` first (on SQLite the IMMEDIATE transaction does it), so two
  tabs get the same lease; a partial unique index allows one active lease
  per (project, annotator).
* **Exact overlap.** A claim takes a slot with a conditional decrement and
  records the slot number on its assignment; a partial unique index on
  (item, slot) over active and submitted assignments makes a second holder
  of one slot impossible even if this code had a bug.
* **Cost independent of how far ahead.** Each annotator has a cursor on the
  queue's sort key (rank, id). Everything before it was, when passed, done
  by them or full; slots that come back behind it are listed in
  ReopenedSlot and checked first. The cursor never moves past a row another
  claim had locked (SKIP LOCKED), since that row may still have a slot for
  this annotator.
* **Lock order.** membership → item → assignment. A claim only locks items
  whose assignment for this annotator is not active, so it never waits on a
  row a sweep of the same annotator holds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accord.errors import Conflict, ServiceUnavailable
from accord.ratelimit import RateLimited, check_rate
from accord.sql import dialect, model_columns, model_from_row
from annotation.models import Assignment, AssignmentState
from items.models import Item
from projects.models import GuidelineVersion, Project

from .release import leases_expire, release
from .rows import (
    ASSIGNMENT,
    CURSOR,
    ITEM,
    OPEN_BY_KEY,
    REOPENED,
    assignment_load,
    excluded_sql,
    fetch_one,
    free_slot,
    lease_end,
    member_lock,
)

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
            return Claim(take(project, user, item_id, now, cursor=moved), resumed=False)
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
    member_lock(project.pk, user.pk)
    rank, item_id, lease, reopened = fetch_one(
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
        f"AND {excluded_sql()} AND NOT EXISTS ({live}{dialect().fence()}) "
        f"ORDER BY i.rank, i.id LIMIT 1{dialect().skip_locked('i')}) "
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
    return dialect().among(f"SELECT r.item_id FROM {REOPENED} r WHERE r.project_id = %(p)s")  # noqa: S608


def _resume(project: Project, start: _Start, now) -> Assignment | None:
    """Renew and return the annotator's live lease; release one that ran out."""
    if start.lease is None:
        return None
    if start.lease < 0:
        release("id = %s", [-start.lease], AssignmentState.EXPIRED, now)
        return None
    with connection.cursor() as cursor:
        # Still active: a lead's release or a sweep may have ended it since.
        cursor.execute(
            f"UPDATE {ASSIGNMENT} SET expires_at = %s WHERE id = %s AND state = 'active'",  # noqa: S608
            [lease_end(project, now), start.lease],
        )
        if cursor.rowcount == 0:
            return None
    return assignment_load(start.lease)


def _walk_sql(alias: str = "i") -> str:
    """Open items with a free slot, from the cursor on, not done by me."""
    return (
        f"{alias}.project_id = %(p)s AND {alias}.state = 'open' AND {alias}.free_slots > 0 "
        f"AND ({alias}.rank, {alias}.id) >= (%(r)s, %(id)s) AND {excluded_sql(alias)}"
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
    if not dialect().is_postgresql:
        # IMMEDIATE transactions serialise claims: nothing is ever locked.
        first = fetch_one(plain, params)
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
    row = fetch_one(
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
    # its key: never from the queue's items (see the note above rows.OPEN_BY_KEY).
    deferred = (
        f"SELECT a.item_id FROM {ASSIGNMENT} a WHERE a.project_id = %(p)s "  # noqa: S608
        "AND a.annotator_id = %(me)s AND a.state = 'deferred'"
    )
    row = fetch_one(
        f"SELECT i.id FROM {ITEM} i WHERE i.id {dialect().among(deferred)} "  # noqa: S608
        f"AND {OPEN_BY_KEY} "
        f"ORDER BY (SELECT a.finished_at FROM {ASSIGNMENT} a WHERE a.item_id = i.id "
        f"AND a.annotator_id + 0 = %(me)s), i.id LIMIT 1{dialect().skip_locked('i')}",
        {"p": project.pk, "me": user.pk},
    )
    return row[0] if row else None


def take(
    project: Project, user, item_id: int, now, *, cursor: tuple[float, int] | None = None
) -> Assignment:
    """Take a slot of a locked item and record the lease; move the
    annotator's queue cursor to ``cursor`` if given."""
    if dialect().is_postgresql:
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
        slot = free_slot(cursor, item_id, overlap=row[0])
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
                lease_end(project, now),
                project.config_version,
                project.pk,
                now,
            ],
        )
        assignment_id = cursor.fetchone()[0]
    return assignment_load(assignment_id)


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
    """take on PostgreSQL: slot, reopened row, free slot number, lease and
    queue cursor in one round trip (the claim is what every annotator calls
    all day)."""
    params = {
        "item": item_id,
        "p": project.pk,
        "me": user.pk,
        "now": now,
        "until": lease_end(project, now),
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


def _nothing_left(project: Project, user, now) -> NothingLeft:
    """Say why: everything left is leased to others now, or nothing is left.

    Read after the search, in a later snapshot. A lease that ended between
    the two (a skip, a release, an expiry) is no longer a lease but a
    returned slot: that is "try again now", not "done" — else the annotator
    would stop with an item still open to them."""
    # Both driven from rows few by design (the project's active leases, its
    # returned slots), each item probed by its key.
    soonest, returned = fetch_one(
        f"SELECT (SELECT MIN(a2.expires_at) FROM {ASSIGNMENT} a2 "  # noqa: S608
        "WHERE a2.project_id = %(p)s AND a2.state = 'active' AND a2.annotator_id <> %(me)s "
        f"AND EXISTS (SELECT 1 FROM {ITEM} i WHERE i.id = a2.item_id AND i.state = 'open' "
        f"AND {excluded_sql()}{dialect().fence()})), "
        f"EXISTS (SELECT 1 FROM {ITEM} i WHERE i.id {_returned_ids()} "
        f"AND {OPEN_BY_KEY} "
        f"AND {excluded_sql()})",
        {"p": project.pk, "me": user.pk},
    )
    if returned:
        return NothingLeft("leased", retry_after=1)
    if soonest is None:
        return NothingLeft("done")
    if isinstance(soonest, str):  # SQLite returns text from a raw aggregate
        soonest = parse_datetime(soonest)
    if soonest <= now:
        # Expired but not swept yet: sweep now and let the caller try again.
        leases_expire(project_id=project.pk, now=now)
        return NothingLeft("leased", retry_after=1)
    wait = int((soonest - now).total_seconds()) + 1
    return NothingLeft("leased", retry_after=max(5, min(wait, 60)))
