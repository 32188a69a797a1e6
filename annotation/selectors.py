"""Reads over the queue: an annotator's own history, revisions, and the
lead's views (leases, unfinishable items, skips per annotator)."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from items.models import Item, ItemState
from projects import access
from projects.counters import counters_for
from projects.models import GuidelineVersion, Membership, Project
from projects.selectors import item_counts

from .models import Annotation, AnnotationRevision, Assignment, AssignmentState


def own_annotations(*, project: Project, user) -> QuerySet[Annotation]:
    """The annotator's annotations in the project, newest first; only their
    own rows, so nothing of another annotator can leak (blind)."""
    return (
        Annotation.objects.filter(project=project, annotator=user)
        .select_related("item")
        .order_by("-id")
    )


def own_skips(*, project: Project, user) -> QuerySet[Assignment]:
    """The annotator's skipped items in the project, latest first."""
    return (
        Assignment.objects.filter(project=project, annotator=user, state=AssignmentState.SKIPPED)
        .select_related("item")
        .order_by("-finished_at", "-id")
    )


def assignment_for_history(user, assignment_id: Any) -> Assignment:
    """An assignment for its annotator or a lead of its project, else 404."""
    try:
        pk = int(assignment_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    found = Assignment.objects.filter(pk=pk).select_related("project").first()
    if found is None:
        raise Http404
    own = found.annotator_id == user.pk and access.has_perm(user, found.project, access.ANNOTATE)
    if not (own or access.has_perm(user, found.project, access.VIEW_STATS)):
        raise Http404
    return found


def project_item(project: Project, item_id: Any) -> Item:
    try:
        pk = int(item_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    item = Item.objects.filter(project=project, pk=pk).first()
    if item is None:
        raise Http404
    return item


def revisions(*, assignment_ids: list[int] | None = None, item_ids: list[int] | None = None):
    rows = AnnotationRevision.objects.all()
    if assignment_ids is not None:
        rows = rows.filter(assignment_id__in=assignment_ids)
    if item_ids is not None:
        rows = rows.filter(item_id__in=item_ids)
    return [
        {
            "assignment": r.assignment_id,
            "number": r.number,
            "kind": r.kind,
            "value": r.value,
            "annotator": r.annotator_id,
            "created_at": r.created_at,
        }
        for r in rows.order_by("assignment_id", "number")
    ]


def active_leases(project: Project, limit: int = 500) -> list[dict]:
    """Who holds what, since when (for the lead)."""
    rows = (
        Assignment.objects.filter(project=project, state=AssignmentState.ACTIVE)
        .select_related("annotator")
        .order_by("leased_at")[:limit]
    )
    return [
        {
            "id": a.pk,
            "item": a.item_id,
            "annotator": a.annotator_id,
            "username": a.annotator.username,
            "since": a.leased_at,
            "leased_until": a.expires_at,
            "draft_saved_at": a.draft_saved_at,
        }
        for a in rows
    ]


def annotator_ids(project: Project) -> list[int]:
    return list(
        Membership.objects.filter(project=project, is_annotator=True).values_list(
            "user_id", flat=True
        )
    )


def unfinishable(project: Project, limit: int = 200) -> dict:
    """Open items that can no longer reach their overlap: fewer annotators
    left who have not submitted, skipped or leased them than free slots.
    Only a skip can do that to one item, so only items with a skip are
    examined; when the whole project has fewer annotators than its overlap
    every item is stuck, which ``too_few_annotators`` says instead of a list."""
    team = annotator_ids(project)
    skipped = list(
        Assignment.objects.filter(
            project=project, state=AssignmentState.SKIPPED, item__state=ItemState.OPEN
        )
        .values_list("item_id", flat=True)
        .distinct()
        .order_by("item_id")
    )
    items: list[dict] = []
    for start in range(0, len(skipped), 1000):
        chunk = skipped[start : start + 1000]
        worked = {
            row["item_id"]: row
            for row in Assignment.objects.filter(
                item_id__in=chunk,
                annotator_id__in=team,
                state__in=[
                    AssignmentState.SUBMITTED,
                    AssignmentState.SKIPPED,
                    AssignmentState.ACTIVE,
                ],
            )
            .values("item_id")
            .annotate(
                done=Count("annotator_id", distinct=True),
                submitted=Count("id", filter=Q(state=AssignmentState.SUBMITTED)),
            )
            .order_by()
        }
        rows = Item.objects.filter(pk__in=chunk).values_list("pk", "external_id", "free_slots")
        for item_id, external_id, free_slots in rows.order_by("pk"):
            row = worked.get(item_id, {"done": 0, "submitted": 0})
            eligible = len(team) - row["done"]
            if eligible < free_slots:
                items.append(
                    {
                        "id": item_id,
                        "external_id": external_id,
                        "free_slots": free_slots,
                        "submitted": row["submitted"],
                        "eligible_annotators": eligible,
                    }
                )
        if len(items) >= limit:
            break
    return {
        "annotators": len(team),
        "overlap": project.overlap,
        "too_few_annotators": len(team) < project.overlap,
        "items": items[:limit],
    }


def annotator_counts(project: Project) -> list[dict]:
    """Submitted and skipped per annotator, from counters: every annotator
    of the project, and anyone else who has annotated in it (a former
    annotator, a reviewer who also annotated)."""
    counters = counters_for([project.pk])[project.pk]
    worked = set()
    for name in counters:
        parts = name.split(":")
        if len(parts) == 3 and parts[0] == "annotator" and parts[2] in ("submitted", "skipped"):
            worked.add(int(parts[1]))
    team = set(annotator_ids(project))
    people = get_user_model().objects.filter(pk__in=worked | team).order_by("username")
    return [
        {
            "user": person.pk,
            "username": person.username,
            "annotations": counters.get(f"annotator:{person.pk}:submitted", 0),
            "skips": counters.get(f"annotator:{person.pk}:skipped", 0),
        }
        for person in people
    ]


def today_key(project: Project, user_id: int, now) -> str:
    """The counter of what the annotator submitted on ``now``'s day in the
    project's time zone (written by submit and undo, read here)."""
    day = now.astimezone(zoneinfo.ZoneInfo(project.time_zone)).date().isoformat()
    return f"annotator:{user_id}:day:{day}"


def annotator_progress(project: Project, user) -> dict[str, Any]:
    """What the workspace shows on every render, from counters only (no
    count over items): left for this annotator, done today, done in all,
    and the project's items by state."""
    counters = counters_for([project.pk])[project.pk]
    prefix = f"annotator:{user.pk}:"
    waiting = counters.get(f"items:{ItemState.OPEN}", 0)
    return {
        # Open items minus those this annotator already submitted or skipped:
        # an upper bound, since others may fill an item's slots first.
        "left_for_you": max(0, waiting - counters.get(prefix + "pending", 0)),
        "done_today": counters.get(today_key(project, user.pk, timezone.now()), 0),
        "submitted": counters.get(prefix + "submitted", 0),
        "skipped": counters.get(prefix + "skipped", 0),
        "items": item_counts(counters),
    }


def current_lease(project: Project, user) -> Assignment | None:
    """The annotator's unexpired lease, read without renewing it: a GET
    changes nothing (a claim, which renews, is a POST)."""
    return (
        Assignment.objects.filter(
            project=project,
            annotator=user,
            state=AssignmentState.ACTIVE,
            expires_at__gt=timezone.now(),
        )
        .select_related("item")
        .first()
    )


def assignment_guidelines(project: Project, assignment: Assignment, user) -> dict[str, Any]:
    """The guideline version rendered for this assignment (the one its
    annotation records), and whether it is newer than the version of the
    annotator's previous item."""
    shown = None
    if assignment.guideline_version is not None:
        shown = GuidelineVersion.objects.filter(
            project=project, number=assignment.guideline_version
        ).first()
    previous = (
        Assignment.objects.filter(project=project, annotator=user, finished_at__isnull=False)
        .exclude(pk=assignment.pk)
        .order_by("-finished_at", "-pk")
        .values("guideline_version")
        .first()
    )
    before = previous["guideline_version"] if previous else None
    changed = bool(shown and previous and (before is None or shown.number > before))
    return {"guideline": shown, "guideline_changed": changed, "guideline_before": before}
