"""Jobs that keep the queue's derived state right: re-ranking and re-seeding
cursors after an order, priority or overlap change, and the periodic
recount of the counters pages show."""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accord.sql import dialect
from items.locks import lock_project_items
from items.models import Item, ItemState
from items.ranks import RANDOM_RANK_SQL, random_rank
from projects.counters import counter_add
from projects.jobs import JobContext, job_create, job_enqueue
from projects.models import Project, ProjectCounter, QueueOrder

from . import hooks
from .models import Annotation, Assignment, AssignmentState, QueueCursor
from .queue.release import release
from .queue.rows import ASSIGNMENT, CURSOR, ITEM, REOPENED, excluded_sql
from .queue.submit import item_compare

log = logging.getLogger(__name__)
CHUNK = 5000


def requeue_start(*, project: Project, user, reason: str):
    """Queue a re-rank / overlap / cursor job for ``project`` (after commit)."""

    job = job_create(project=project, user=user, kind="requeue", params={"reason": reason})
    job_enqueue(job)
    return job


def requeue_run(ctx: JobContext) -> None:
    project = Project.objects.get(pk=ctx.job.project_id)
    with transaction.atomic():
        # Imports write ranks too; one writer of the project's items at a time.
        lock_project_items(project.pk)
        ranked = items_rerank(project)
        resized, compared = items_resize(project)
        cursors = cursors_reseed(project)
        ctx.succeed(
            {"ranked": ranked, "resized": resized, "compared": compared, "cursors": cursors}
        )


def items_rerank(project: Project) -> int:
    """Set every open item's rank from the project's queue order."""
    open_items = Item.objects.filter(project=project, state=ItemState.OPEN)
    if project.queue_order == QueueOrder.IMPORT:
        return open_items.update(rank=0.0)
    if project.queue_order == QueueOrder.PRIORITY:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ITEM} SET rank = -priority WHERE project_id = %s AND state = 'open'",  # noqa: S608
                [project.pk],
            )
            return cursor.rowcount
    if dialect().is_postgresql:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ITEM} SET rank = {RANDOM_RANK_SQL} "  # noqa: S608
                "WHERE project_id = %s AND state = 'open'",
                [str(project.queue_seed), project.pk],
            )
            return cursor.rowcount
    n = 0
    rows = open_items.order_by("id").values_list("id", "content_hash")
    batch: list[tuple[float, int]] = []
    for item_id, digest in rows.iterator(chunk_size=CHUNK):
        batch.append((random_rank(project.queue_seed, digest), item_id))
        if len(batch) >= CHUNK:
            n += _write_ranks(batch)
            batch = []
    return n + _write_ranks(batch)


def _write_ranks(batch: list[tuple[float, int]]) -> int:
    if batch:
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {ITEM} SET rank = %s WHERE id = %s", batch)  # noqa: S608
    return len(batch)


def items_resize(project: Project) -> tuple[int, int]:
    """Give open items the project's overlap: raising it opens slots,
    lowering it compares the items that already have enough."""
    overlap = project.overlap
    held = (
        f"(SELECT COUNT(*) FROM {ASSIGNMENT} a WHERE a.item_id = {ITEM}.id "  # noqa: S608
        "AND a.state IN ('active', 'submitted'))"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ITEM} SET overlap = %s, "  # noqa: S608
            f"free_slots = CASE WHEN %s - {held} > 0 THEN %s - {held} ELSE 0 END "
            "WHERE project_id = %s AND state = 'open' AND overlap <> %s",
            [overlap, overlap, overlap, project.pk, overlap],
        )
        resized = cursor.rowcount
    complete = (
        Item.objects.filter(project=project, state=ItemState.OPEN)
        .annotate(n=Count("assignments", filter=Q(assignments__state=AssignmentState.SUBMITTED)))
        .filter(n__gte=overlap)
        .values_list("pk", flat=True)
    )
    compared = 0
    for item_id in list(complete):
        item = Item.objects.select_for_update().get(pk=item_id)
        if item.state == ItemState.OPEN:
            # A lowered overlap can leave leases beyond it on an item that now
            # has enough, with no slot free; item_compare lets leases go only
            # when a slot is free or a submission short, so they would stay
            # active on a compared item (resumed by every claim of their
            # holder). Give them back first.
            if release("item_id = %s", [item.pk], AssignmentState.RELEASED, timezone.now()):
                item.refresh_from_db(fields=["free_slots"])
            item_compare(item=item)
            compared += 1
    return resized, compared


def cursor_position(project_id: int, user_id: int) -> tuple[float, int] | None:
    """The first open item with a free slot this annotator has not done: the
    walk every claim would otherwise repeat, done once here."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT i.rank, i.id FROM {ITEM} i WHERE i.project_id = %(p)s "  # noqa: S608
            f"AND i.state = 'open' AND i.free_slots > 0 AND {excluded_sql()} "
            "ORDER BY i.rank, i.id LIMIT 1",
            {"p": project_id, "me": user_id},
        )
        return cursor.fetchone()


def cursors_reseed(project: Project) -> int:
    """Move every cursor of the project to where its annotator's queue now
    starts; a cursor with nothing left goes past the last item."""
    users = list(QueueCursor.objects.filter(project=project).values_list("annotator_id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {REOPENED} WHERE project_id = %s", [project.pk])  # noqa: S608
        cursor.execute(
            # Not a staged import's rows: they are in nobody's queue yet.
            f"SELECT MAX(rank), MAX(id) FROM {ITEM} WHERE project_id = %s AND state <> 'staged'",  # noqa: S608
            [project.pk],
        )
        top_rank, top_id = cursor.fetchone()
        end = (top_rank or 0.0, (top_id or 0) + 1)
        for user_id in users:
            position = cursor_position(project.pk, user_id) or end
            cursor.execute(
                f"UPDATE {CURSOR} SET rank = %s, item_id = %s "  # noqa: S608
                "WHERE project_id = %s AND annotator_id = %s",
                [position[0], position[1], project.pk, user_id],
            )
    return len(users)


# --- counters -------------------------------------------------------------------


def counters_expected(project: Project) -> dict[str, int]:
    """The queue's counters recounted from the rows."""
    out: dict[str, int] = defaultdict(int)
    items = Item.objects.filter(project=project)
    for state, n in items.values_list("state").annotate(n=Count("id")).order_by():
        out[f"items:{state}"] = n
        out["items:total"] += n
    for outcome, n in (
        items.exclude(outcome="").values_list("outcome").annotate(n=Count("id")).order_by()
    ):
        out[f"items:{outcome}"] = n
    out["annotations:total"] = Annotation.objects.filter(project=project).count()
    by_user = (
        Assignment.objects.filter(project=project)
        .values_list("annotator_id", "state")
        .annotate(
            n=Count("id"),
            pending=Count("id", filter=Q(item__state=ItemState.OPEN)),
        )
        .order_by()
    )
    for user_id, state, n, pending in by_user:
        if state == AssignmentState.SUBMITTED:
            out[f"annotator:{user_id}:submitted"] += n
        elif state == AssignmentState.SKIPPED:
            out[f"annotator:{user_id}:skipped"] += n
            out["skips:total"] += n
        else:
            continue
        out[f"annotator:{user_id}:pending"] += pending
    # The apps above count what they write (review: gold by source).
    for counted in hooks.counters_expected.send(project=project):
        out.update(counted)
    return dict(out)


RECONCILED_PREFIXES = ("items:", "annotations:", "skips:", "gold:")
RECONCILED_SUFFIXES = (":submitted", ":skipped", ":pending")


def counter_reconciled(name: str) -> bool:
    """Whether the hourly reconciliation recounts the counter ``name``."""
    return name.startswith(RECONCILED_PREFIXES) or (
        name.startswith("annotator:") and name.endswith(RECONCILED_SUFFIXES)
    )


@transaction.atomic
def counters_reconcile(project: Project) -> dict[str, dict[str, int]]:
    """Correct the project's counters; return the drift found as
    {name: {"stored": …, "counted": …}}."""
    lock_project_items(project.pk)
    expected = counters_expected(project)
    stored = {
        c.name: c.value
        for c in ProjectCounter.objects.select_for_update().filter(project=project)
        if counter_reconciled(c.name)
    }
    drift = {}
    for name in sorted(set(expected) | set(stored)):
        have, want = stored.get(name, 0), expected.get(name, 0)
        if have != want:
            drift[name] = {"stored": have, "counted": want}
            counter_add(project.pk, name, want - have)
    return drift


def counters_reconcile_all() -> dict:
    report = {}
    for project in Project.objects.filter(archived_at__isnull=True).order_by("pk"):
        drift = counters_reconcile(project)
        if drift:
            log.warning("counter drift in project %s: %s", project.pk, drift)
            report[str(project.pk)] = drift
    return report
