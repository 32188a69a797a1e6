"""The lead's view of review: items by where they are, reviewers'
throughput, overruled annotations per annotator, and the live review
leases."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from annotation.selectors import unfinishable
from items.models import ItemState
from projects.counters import counters_for
from projects.models import Project

from .models import Feedback, GoldSource, Review, ReviewState
from .selectors import iso_time


def overruled_by_annotator(project: Project) -> list[dict[str, Any]]:
    """Per annotator: annotations submitted, how many a reviewer overruled,
    and those by reason code."""
    counts: dict[int, dict[str, int]] = {}
    for user_id, code, n in (
        Feedback.objects.filter(project=project)
        .values_list("annotator_id", "gold_revision__reason_code")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts.setdefault(user_id, {})[code or ""] = n
    counters = counters_for([project.pk])[project.pk]
    people = get_user_model().objects.filter(pk__in=counts).order_by("username")
    names = {c["key"]: c["name"] for c in project.reason_codes}
    return [
        {
            "user": person.pk,
            "username": person.username,
            "annotations": counters.get(f"annotator:{person.pk}:submitted", 0),
            "overruled": sum(counts[person.pk].values()),
            "by_reason": [
                {"reason_code": code, "name": names.get(code, code or "no code"), "count": n}
                for code, n in sorted(counts[person.pk].items(), key=lambda kv: -kv[1])
            ],
        }
        for person in people
    ]


def reviewer_throughput(project: Project, *, days: int = 7) -> list[dict[str, Any]]:
    """Per reviewer: items resolved in all and in the last ``days`` days, and
    the median minutes from lease to decision over those recent ones."""
    since = timezone.now() - timedelta(days=days)
    totals = dict(
        Review.objects.filter(project=project, state=ReviewState.RESOLVED)
        .values_list("reviewer_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    recent: dict[int, list[float]] = {}
    for user_id, leased, finished in Review.objects.filter(
        project=project, state=ReviewState.RESOLVED, finished_at__gte=since
    ).values_list("reviewer_id", "leased_at", "finished_at")[:20000]:
        recent.setdefault(user_id, []).append((finished - leased).total_seconds())
    active = dict(
        Review.objects.filter(project=project, state=ReviewState.ACTIVE)
        .values_list("reviewer_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    people = get_user_model().objects.filter(pk__in=set(totals) | set(active)).order_by("username")
    return [
        {
            "user": person.pk,
            "username": person.username,
            "resolved": totals.get(person.pk, 0),
            "resolved_recent": len(recent.get(person.pk, [])),
            "median_minutes": round(statistics.median(recent[person.pk]) / 60, 1)
            if recent.get(person.pk)
            else None,
            "holding": active.get(person.pk, 0),
        }
        for person in people
    ]


def review_progress(project: Project) -> dict[str, Any]:
    """Items by where they are, from counters, plus unfinishable items."""

    counters = counters_for([project.pk])[project.pk]
    stuck = unfinishable(project, limit=1000)
    return {
        "waiting": counters.get(f"items:{ItemState.OPEN}", 0),
        "in_review": counters.get(f"items:{ItemState.REVIEW}", 0),
        "gold": counters.get(f"items:{ItemState.GOLD}", 0),
        "excluded": counters.get(f"items:{ItemState.EXCLUDED}", 0),
        "unresolved": counters.get(f"items:{ItemState.UNRESOLVED}", 0),
        "unfinishable": None if stuck["too_few_annotators"] else len(stuck["items"]),
        "too_few_annotators": stuck["too_few_annotators"],
        "gold_by_source": {s.value: counters.get(f"gold:{s.value}", 0) for s in GoldSource},
    }


def active_reviews(project: Project, limit: int = 500) -> list[dict[str, Any]]:
    rows = (
        Review.objects.filter(project=project, state=ReviewState.ACTIVE)
        .select_related("reviewer")
        .order_by("leased_at")[:limit]
    )
    return [
        {
            "id": r.pk,
            "item": r.item_id,
            "reviewer": {"id": r.reviewer_id, "username": r.reviewer.username},
            "kind": r.kind,
            "since": iso_time(r.leased_at),
            "until": iso_time(r.expires_at),
        }
        for r in rows
    ]
