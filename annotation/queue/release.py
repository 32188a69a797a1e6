"""Giving slots back: the one release path, leases running out, and the
annotator's skip, later and draft, and the lead's release of a lease.

Every path that gives a slot back (expiry, skip, later, undo, a lead's
release or override, a lowered overlap) goes through ``release``: one
``UPDATE … WHERE state = 'active' RETURNING``, so a slot comes back once.
Sweeps lock assignment → item; the annotator's own actions take
membership → assignment → item (``own_assignment``).
"""

from __future__ import annotations

from typing import Any

import orjson
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone

from accord.errors import Conflict, InvalidInput
from accord.ratelimit import check_rate
from annotation.models import Assignment, AssignmentState, ReopenedSlot
from items.models import ItemState
from projects.counters import CounterBatch
from projects.fields import reason_checked
from projects.models import GuidelineVersion, Project

from .rows import (
    ASSIGNMENT,
    ITEM,
    REOPENED,
    lease_end,
    own_assignment,
    refuse_archived,
    retake_slot,
)

MAX_DRAFT_BYTES = 256 * 1024
MAX_REASON = 500
SKIP_REASON_REQUIRED = "is required: say why you skip this item"


def release(where: str, params: list, to_state: str, now) -> list[tuple[int, int, int]]:
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
        return len(release(where, params, AssignmentState.EXPIRED, now))


def assignment_skip(*, assignment: Assignment, user, reason: Any) -> Assignment:
    """Never offer this item to this annotator again; its slot goes back."""
    reason = reason_checked(reason, max_length=MAX_REASON, required=SKIP_REASON_REQUIRED)
    check_rate("skip", user.pk)
    now = timezone.now()
    with transaction.atomic():
        assignment = own_assignment(assignment, user, lock_item=True)
        refuse_archived(assignment.project)
        if assignment.state == AssignmentState.SUBMITTED:
            raise Conflict("You submitted this item; undo the submission first.", code="submitted")
        if assignment.state == AssignmentState.SKIPPED:
            return assignment
        # "Pending" counts skipped items that are still open, and the item of
        # a lease that had ended may have been completed by others meanwhile.
        # Its state is read under its lock: a comparison either runs after
        # this skip and uncounts it, or ran before and this skip counts nothing.
        item_open = assignment.item.state == ItemState.OPEN
        release("id = %s", [assignment.pk], AssignmentState.SKIPPED, now)
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
        assignment = own_assignment(assignment, user, lock_item=True)
        project = assignment.project
        refuse_archived(project)
        if assignment.state != AssignmentState.SKIPPED:
            raise Conflict("You did not skip this item.", code="not_skipped")
        item = assignment.item
        if item.state != ItemState.OPEN or item.free_slots == 0:
            raise Conflict(
                "Others have given this item all the annotations it needs; "
                "it cannot come back to you.",
                code="no_free_slot",
            )
        release(
            "project_id = %s AND annotator_id = %s",
            [project.pk, user.pk],
            AssignmentState.EXPIRED,
            now,
        )
        retake_slot(assignment, item)
        assignment.state, assignment.skip_reason = AssignmentState.ACTIVE, ""
        assignment.leased_at, assignment.expires_at = now, lease_end(project, now)
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
        assignment = own_assignment(assignment, user)
        refuse_archived(assignment.project)
        if assignment.state != AssignmentState.ACTIVE:
            raise Conflict("This lease has ended already.", code="not_active")
        release("id = %s", [assignment.pk], AssignmentState.DEFERRED, now)
        assignment.state = AssignmentState.DEFERRED
        return assignment


def assignment_draft(*, assignment: Assignment, user, value: Any) -> Assignment:
    """Keep the annotator's work in progress and renew the lease. A lease
    that ended is taken again if the slot is still free (the draft of a
    dropped connection arriving late)."""
    value = _clean_draft(value)
    now = timezone.now()
    with transaction.atomic():
        assignment = own_assignment(assignment, user)
        project = assignment.project
        refuse_archived(project)
        if assignment.state in (AssignmentState.EXPIRED, AssignmentState.RELEASED):
            _retake_lease(assignment)
        elif assignment.state != AssignmentState.ACTIVE:
            raise Conflict("This assignment is closed; its draft cannot change.", code="closed")
        assignment.draft, assignment.draft_saved_at = value, now
        assignment.expires_at = lease_end(project, now)
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
    retake_slot(assignment)
    ReopenedSlot.objects.filter(item_id=assignment.item_id, item__free_slots=0).delete()


def _clean_draft(value: Any) -> Any:
    try:
        size = len(orjson.dumps(value))
    except TypeError as exc:
        raise InvalidInput("must be JSON", field="value") from exc
    if size > MAX_DRAFT_BYTES:
        raise InvalidInput(f"is larger than {MAX_DRAFT_BYTES // 1024} KB", field="value")
    return value


def lease_release(*, project: Project, assignment_id: Any) -> bool:
    """A lead gives a lease back to the queue. False if it had ended already."""
    try:
        pk = int(assignment_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    if not Assignment.objects.filter(pk=pk, project=project).exists():
        raise Http404
    with transaction.atomic():
        return bool(release("id = %s", [pk], AssignmentState.RELEASED, timezone.now()))
