"""Revisions: an annotator edits or withdraws (undoes) their own submitted
annotation until the item is compared. Every value is kept as a revision.

Lock order: membership → assignment → item (``own_assignment``).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accord.errors import Conflict
from annotation.models import (
    Annotation,
    AnnotationRevision,
    Assignment,
    AssignmentState,
    RevisionKind,
)
from annotation.selectors import today_key
from items.models import Item, ItemState
from projects.counters import CounterBatch
from projects.models import Project
from projects.selectors import task_config

from .release import release
from .rows import lease_end, own_assignment, refuse_archived


def _own_annotation(annotation: Annotation, user) -> tuple[Annotation, Assignment, Item]:
    """The caller's annotation (checked by projects.access), locked with its
    assignment and item; Conflict once the item was compared."""
    if annotation.annotator_id != user.pk or annotation.assignment_id is None:
        raise Http404
    assignment = own_assignment(annotation.assignment, user, lock_item=True)
    item = assignment.item
    # Read again under the locks: an undo from another tab may have deleted
    # it while this request waited (a 404 then, not a DoesNotExist 500).
    annotation = Annotation.objects.filter(pk=annotation.pk).first()
    if annotation is None:
        raise Http404
    refuse_archived(assignment.project)
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
        task_type, config = task_config(assignment.project_id, assignment.config_version)
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
        release(
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
        assignment.leased_at, assignment.expires_at = now, lease_end(project, now)
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
        counts.add(today_key(project, user.pk, annotation.created_at), -1)
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
