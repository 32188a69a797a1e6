"""The queue's statements cost the same whatever the planner's statistics
say (issue: on a fresh, never-analysed database a claim read every open
item of every project).

Three projects share the tables: a large one, a middle one and a small
one. Every queue operation (claim from the cursor and from returned slots,
submit, skip, later, a lead's release, "nothing left", the review claim)
is run under three states of the statistics, each with custom plans (what a
transaction-mode pooler gets: every statement planned with its values) and
generic plans (what a prepared statement settles on):

* never analysed: a fresh database, as ``migrate`` and an import leave it;
* analysed: what autovacuum leaves some minutes later;
* claiming empty: an ANALYZE of the tables while they were empty, before
  the import (row and page counts of zero, no column statistics).

Rows examined are counted as in test_claim_rows_examined.py: index entries
and heap rows read in the queue's tables, from PostgreSQL's per-transaction
counters. A plan that walks a project's open items, or every project's,
reads thousands of rows; the queue's own work is tens."""

from __future__ import annotations

import pytest
from django.db import connection

from annotation.models import Annotation, Assignment, QueueCursor, ReopenedSlot
from annotation.queue.claim import NothingLeft, assignment_claim
from annotation.queue.release import assignment_later, assignment_skip, lease_release
from annotation.queue.submit import annotation_submit
from annotation.reconcile import cursor_position
from items.models import Item
from projects import services
from review import leases
from review.models import Review

from .test_claim_rows_examined import vacuum_queue_tables

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(180)]

# Two scales: which plan the planner picks without statistics depends on
# the tables' sizes (on a few thousand items it drove the returned-slot
# lookup from every open item; on tens of thousands it did not).
# (items per project, items the "ahead" reviewer annotated, earlier reviews)
SCALES = {
    "thousands": ({"large": 4_000, "middle": 2_000, "small": 40}, 2_000, 1_000),
    "tens of thousands": ({"large": 20_000, "middle": 5_000, "small": 40}, 10_000, 5_000),
}
# Items in review per project.
IN_REVIEW = 30
# Tens of rows per operation: a handful of index probes and row reads, plus
# the old row versions this one long test transaction leaves on its own path
# (every claim and submit adds some: a few hundred by the end). A plan that
# scans a project's open items reads thousands (the smallest scan here, of
# the middle project, 2,000), one over every project's more. The bound sits
# at half that: one submit once read 753 rows on a loaded machine (analysed
# statistics, custom plans), not reproduced since.
SMALL = 1_000
# What a claim reads for each returned slot of its project: the item by its
# key and its assignments (with this transaction's old versions of them).
PER_RETURNED = 20
TABLES = [Item, Assignment, QueueCursor, ReopenedSlot, Annotation, Review]
STATES = ["never analysed", "analysed", "claiming empty"]
PLANS = ["force_custom_plan", "force_generic_plan"]


def _names() -> list[str]:
    return [m._meta.db_table for m in TABLES]


def _rows_read() -> int:
    names = _names()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(pg_stat_get_xact_tuples_returned(c.oid) "
            "+ pg_stat_get_xact_tuples_fetched(c.oid)), 0) FROM pg_class c "
            "WHERE c.oid IN (SELECT unnest(%s::regclass[])) "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY(%s::regclass[]))",
            [names, names],
        )
        return int(cursor.fetchone()[0])


def _set_statistics(state: str) -> None:
    """Put the queue tables' statistics (and their indexes') in ``state``.
    The catalog rows are changed in the test's transaction and roll back
    with it; the planner reads them through the relation cache, which the
    update invalidates."""
    names = _names()
    relations = (
        "oid IN (SELECT unnest(%(t)s::regclass[])) "
        "OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY(%(t)s::regclass[]))"
    )
    with connection.cursor() as cursor:
        if state == "analysed":
            for name in names:
                cursor.execute(f"ANALYZE {name}")  # noqa: S608 - our tables
            return
        cursor.execute(
            "DELETE FROM pg_statistic WHERE starelid = ANY(%(t)s::regclass[])", {"t": names}
        )
        # What ``migrate`` leaves (a table never analysed), or what ANALYZE
        # of the empty tables leaves (no rows in no pages); either way each
        # index is its metapage with no rows.
        tuples = -1 if state == "never analysed" else 0
        cursor.execute(
            "UPDATE pg_class SET relallvisible = 0, "  # noqa: S608
            "relpages = CASE WHEN relkind = 'i' THEN 1 ELSE 0 END, "
            f"reltuples = CASE WHEN relkind = 'i' THEN 0 ELSE %(n)s END WHERE {relations}",
            {"t": names, "n": tuples},
        )


@pytest.fixture(params=list(SCALES))
def world(request, make_project, lead, make_user, settings):
    """The three projects, built in bulk in SQL in the test's transaction."""
    sizes, ahead, history = SCALES[request.param]
    settings.ACCORD_RATES = {"claim": (10**6, 60), "skip": (10**6, 60)}
    vacuum_queue_tables()
    with connection.cursor() as cursor:
        # Keep autovacuum's ANALYZE off the tables while the test changes
        # their statistics (the lock of this storage parameter is held until
        # the test's transaction rolls back). Set before any row is written.
        for name in _names():
            cursor.execute(f"ALTER TABLE {name} SET (autovacuum_enabled = false)")  # noqa: S608
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    reviewer = make_user("plans-reviewer")
    world = {"reviewer": reviewer, "projects": {}}
    for name, size in sizes.items():
        project = make_project(lead, name=f"plans {name}")
        people = {role: make_user(f"plans-{name}-{role}") for role in ("fresh", "partner")}
        for person in people.values():
            services.membership_set(project=project, user=person, roles=["annotator"])
        services.membership_set(project=project, user=reviewer, roles=["reviewer"])
        _insert_items(project, size)
        world["projects"][name] = (project, people)
    large, people = world["projects"]["large"]
    # The reviewer annotated half the large project: the review claim's
    # "not annotated by me" probe must not read their annotations.
    services.membership_set(project=large, user=reviewer, roles=["annotator", "reviewer"])
    _give_work(large, reviewer, ahead)
    people["ahead"] = reviewer
    _review_history(large, make_user("plans-earlier-reviewer"), history)
    return world


def _insert_items(project, size: int) -> None:
    item = Item._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {item} (project_id, data, meta, content_hash, state, priority, rank, "  # noqa: S608
            "overlap, free_slots, outcome, compared_at, created_at) "
            "SELECT %(p)s, jsonb_build_object('text', 'item ' || n), '{}', "
            "md5(%(p)s || ':' || n) || md5(n::text), "
            "CASE WHEN n > %(n)s - %(r)s THEN 'review' ELSE 'open' END, 0, 0, 2, "
            "CASE WHEN n > %(n)s - %(r)s THEN 0 ELSE 2 END, "
            "CASE WHEN n > %(n)s - %(r)s THEN 'disagreed' ELSE '' END, "
            "CASE WHEN n > %(n)s - %(r)s THEN now() END, now() "
            "FROM generate_series(1, %(n)s) AS n ORDER BY n",
            {"p": project.pk, "n": size, "r": IN_REVIEW},
        )


def _give_work(project, user, n: int) -> None:
    """``user`` submitted the first ``n`` items of ``project``, with the
    cursor their claims would have left."""
    item, assignment = Item._meta.db_table, Assignment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {item} SET free_slots = 1 WHERE id IN (SELECT id FROM {item} "  # noqa: S608
            "WHERE project_id = %s AND state = 'open' ORDER BY rank, id LIMIT %s)",
            [project.pk, n],
        )
        cursor.execute(
            f"INSERT INTO {assignment} (project_id, item_id, annotator_id, state, slot, "  # noqa: S608
            "leased_at, expires_at, config_version, skip_reason, finished_at, created_at) "
            "SELECT %s, id, %s, 'submitted', 1, now(), now(), 1, '', now(), now() "
            f"FROM {item} WHERE project_id = %s AND free_slots = 1",
            [project.pk, user.pk, project.pk],
        )
        cursor.execute(
            f"INSERT INTO {Annotation._meta.db_table} (project_id, item_id, annotator_id, "  # noqa: S608
            "assignment_id, value, config_version, guideline_version, lease_to_submit_ms, "
            "active_ms, preannotation_shown, revision, created_at, updated_at) "
            "SELECT project_id, item_id, annotator_id, id, '\"pos\"', 1, NULL, 1000, NULL, "
            f"false, 1, now(), now() FROM {assignment} WHERE annotator_id = %s",
            [user.pk],
        )
    position = cursor_position(project.pk, user.pk)
    QueueCursor.objects.create(
        project=project, annotator=user, rank=position[0], item_id=position[1]
    )


def _review_history(project, reviewer, n: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Review._meta.db_table} (project_id, item_id, reviewer_id, kind, "  # noqa: S608
            "state, leased_at, expires_at, config_version, finished_at) "
            "SELECT project_id, id, %s, 'disagreement', 'resolved', now(), now(), 1, now() "
            f"FROM {Item._meta.db_table} WHERE project_id = %s AND state = 'open' "
            "ORDER BY id DESC LIMIT %s",
            [reviewer.pk, project.pk, n],
        )


def _measure(call) -> tuple[int, object]:
    before = _rows_read()
    try:
        result = call()
    except NothingLeft as empty:
        result = empty
    return _rows_read() - before, result


def _annotator_round(project, user, costs: dict, turn: int) -> None:
    """Claim, then submit, skip or defer ("later"), or have the lead release
    the lease; each operation's rows go into ``costs``."""
    returned = ReopenedSlot.objects.filter(project=project).count()
    everywhere = ReopenedSlot.objects.count()
    rows, claim = _measure(lambda: assignment_claim(project=project, user=user))
    # The claim probes each returned slot of the project (a handful in
    # practice; this test piles them up), a few rows each, and may read the
    # returned-slot table whole while it is a page or two.
    costs.setdefault("claim", []).append(rows - PER_RETURNED * returned - everywhere)
    if isinstance(claim, NothingLeft):
        return
    assignment = claim.assignment
    kind = ["submit", "skip", "submit", "later", "release"][turn % 5]
    if kind == "submit":
        operation = lambda: annotation_submit(  # noqa: E731
            assignment=assignment, user=user, value="pos"
        )
    elif kind == "skip":
        operation = lambda: assignment_skip(  # noqa: E731
            assignment=assignment, user=user, reason="unclear"
        )
    elif kind == "later":
        operation = lambda: assignment_later(assignment=assignment, user=user)  # noqa: E731
    else:
        operation = lambda: lease_release(  # noqa: E731
            project=project, assignment_id=assignment.pk
        )
    rows, _ = _measure(operation)
    costs.setdefault(kind, []).append(rows)


def _review_round(project, reviewer, costs: dict) -> None:
    rows, claim = _measure(lambda: leases.review_claim(project=project, user=reviewer))
    costs.setdefault("review claim", []).append(rows)
    if not isinstance(claim, NothingLeft):
        leases.review_release(review=claim.review, user=reviewer)


def test_queue_statements_read_tens_of_rows_whatever_the_statistics(world):
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        assert int(cursor.fetchone()[0]) >= 120000  # plan_cache_mode
    worst: dict[tuple[str, str], dict[str, int]] = {}
    turn = 0
    for state in STATES:
        _set_statistics(state)
        for plan in PLANS:
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL plan_cache_mode = {plan}")
            costs: dict[str, list[int]] = {}
            for _ in range(3):
                for project, people in world["projects"].values():
                    for user in people.values():
                        _annotator_round(project, user, costs, turn)
                        turn += 1
                    _review_round(project, world["reviewer"], costs)
            worst[(state, plan)] = {kind: max(rows) for kind, rows in costs.items()}
    print("\nmost rows read by one operation:")
    for (state, plan), row in worst.items():
        print(f"  {state:15} {plan:19} {row}")
    over = {
        key: {kind: rows for kind, rows in row.items() if rows > SMALL}
        for key, row in worst.items()
    }
    assert not any(over.values()), {k: v for k, v in over.items() if v}
    # Every kind of operation was exercised, returned slots included.
    kinds = set().union(*worst.values())
    assert kinds == {"claim", "submit", "skip", "later", "release", "review claim"}, kinds
    assert ReopenedSlot.objects.exists() or Assignment.objects.filter(state="deferred").exists()
