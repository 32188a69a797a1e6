"""Submitting: an annotation recorded, and an item whose every slot is
submitted compared and settled; and the lead's override of an item that
cannot reach its overlap.

Lock order: membership → assignment → item (``own_assignment``). Whoever
settles a complete item (review: consensus, review or gold) is the settler
registered in ``annotation.hooks``; this module announces "item compared" to
the listeners there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone

from accord.errors import Conflict, InvalidInput
from accord.sql import dialect
from annotation import hooks
from annotation.models import (
    Annotation,
    AnnotationRevision,
    Assignment,
    AssignmentState,
    ReopenedSlot,
    RevisionKind,
)
from annotation.selectors import today_key
from items.models import Item, ItemState
from projects.counters import CounterBatch
from projects.models import Project
from projects.selectors import task_config

from .release import release
from .rows import (
    ASSIGNMENT,
    ITEM,
    fetch_one,
    own_assignment,
    refuse_archived,
    retake_slot,
    submitted_count,
)


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
        assignment = own_assignment(assignment, user, lock_item=True)
        project = assignment.project
        refuse_archived(project)
        task_type, config = task_config(project.pk, assignment.config_version)
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
            item = retake_slot(assignment, item)
        counts = CounterBatch(project.pk)
        annotation, submitted = _record_submission(
            assignment, item, clean, now, counts, active_ms=active_ms, shown=False
        )
        if submitted >= item.overlap:
            item_compare(item=item, now=now, project=project, counts=counts, submitted=submitted)
        counts.flush()
        return Submitted(annotation, created=True)


def _clean_ms(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 7 * 86_400_000:
        raise InvalidInput("must be a whole number of milliseconds", field=field)
    return value


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
    if dialect().is_postgresql:
        submitted = _record_in_one_statement(annotation, assignment, encoded, now)
    else:
        submitted = _record_in_statements(annotation, assignment, encoded, now)
    assignment.state = AssignmentState.SUBMITTED
    user_id, project = assignment.annotator_id, assignment.project
    counts.add("annotations:total", 1)
    counts.add(f"annotator:{user_id}:submitted", 1)
    counts.add(f"annotator:{user_id}:pending", 1)
    counts.add(today_key(project, user_id, now), 1)
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
            f"VALUES (%s, %s, %s, %s, {dialect().jsonb_param}, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
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
    return submitted_count(annotation.item_id)


def _revision_count(assignment_id: int) -> int:
    row = fetch_one(
        f"SELECT COUNT(*) FROM {AnnotationRevision._meta.db_table} WHERE assignment_id = %(a)s",  # noqa: S608
        {"a": assignment_id},
    )
    return row[0]


def _insert_revision(cursor, assignment, item_id, number, kind, encoded, now) -> None:
    cursor.execute(
        f"INSERT INTO {AnnotationRevision._meta.db_table} (project_id, item_id, annotator_id, "  # noqa: S608
        f"assignment_id, number, kind, value, created_at) VALUES (%s, %s, %s, %s, %s, %s, "
        f"{dialect().jsonb_param}, %s)",
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
    *,
    item: Item,
    now=None,
    project: Project | None = None,
    counts: CounterBatch | None = None,
    submitted: int | None = None,
) -> str:
    """Compare an item's submitted annotations through its task type under
    the project's consensus rule; record agreed/disagreed and move it out of
    the annotation queue. Call with the item locked; pass ``counts`` to write
    the counters with the caller's (else they are written here), and
    ``submitted``, how many submitted annotations it has, if known."""
    now = now or timezone.now()
    project = project or Project.objects.get(pk=item.project_id)
    batch = counts or CounterBatch(project.pk)
    if submitted is None:
        submitted = submitted_count(item.pk)
    task_type, config = task_config(project.pk, project.config_version)
    # Comparing, consensus gold and the review policy belong to the settler
    # review registers.
    to_state, outcome = hooks.item_settler(
        item=item,
        project=project,
        task_type=task_type,
        config=config,
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
    hooks.item_compared.send(project_id=project.pk)
    _clear_pending(item, batch)
    if item.free_slots or submitted != item.overlap:
        # Leases may still be held (the overlap was lowered, or a lead
        # overrode): let them go. With every slot submitted there are none,
        # and no reopened-slot row (the take that filled the item removed it).
        release("item_id = %s", [item.pk], AssignmentState.RELEASED, now)
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
        release("item_id = %s", [item.pk], AssignmentState.RELEASED, now)
        submitted = submitted_count(item.pk)
        if action == "compare":
            if submitted == 0:
                raise Conflict("The item has no annotations to compare.", code="no_annotations")
            Item.objects.filter(pk=item.pk).update(overlap=submitted, free_slots=0)
            ReopenedSlot.objects.filter(item=item).delete()
            item.overlap, item.free_slots = submitted, 0
            item_compare(item=item, now=now, project=project, submitted=submitted)
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
