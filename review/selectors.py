"""Reads for review: what a reviewer sees of an item, gold and its history,
precedents, feedback, and the lead's review progress."""

from __future__ import annotations

import re
import statistics
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accord.errors import InvalidInput
from annotation.models import Annotation
from annotation.queue_selectors import config_version
from items.labels import item_label
from items.models import ItemState
from projects.counters import counters_for
from projects.models import Membership, Project
from tasktypes import get as task_type_for

from .gold import dispute_key
from .models import Feedback, GoldRecord, GoldRevision, GoldSource, Review, ReviewKind, ReviewState

PRECEDENTS = 5
ITEM_TEXT = 400


def _time(value) -> str | None:
    return value.isoformat() if value else None


def _names(project: Project, config_number: int) -> tuple[Any, dict]:
    row = config_version(project.pk, config_number)
    return task_type_for(row.task_type), row.config


def annotator_label(n: int) -> str:
    """ "Annotator A", "Annotator B", … for anonymous review."""
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return f"Annotator {letters}"


def review_annotations(review: Review, *, anonymous: bool) -> list[dict[str, Any]]:
    """Each submitted annotation of the review's item with who made it (or a
    letter), the time it took, the guideline version, and which of its
    categories are in dispute."""
    project = review.project
    task_type, config = _names(project, review.config_version)
    rows = list(
        Annotation.objects.filter(item_id=review.item_id, assignment__state="submitted")
        .select_related("annotator")
        .order_by("id")
    )
    values = [a.value for a in rows]
    disputed = set(dispute_key(task_type, values, config).split("|")) - {""}
    out = []
    for n, annotation in enumerate(rows):
        categories = [str(c) for c in task_type.agreement_categories(annotation.value, config)]
        out.append(
            {
                "id": annotation.pk,
                "label": annotator_label(n),
                "annotator": None
                if anonymous
                else {"id": annotation.annotator_id, "username": annotation.annotator.username},
                "value": annotation.value,
                "display": task_type.display_value(annotation.value, config),
                "disputed": [c for c in categories if c in disputed],
                "submitted_at": _time(annotation.created_at),
                "active_ms": annotation.active_ms,
                "lease_to_submit_ms": annotation.lease_to_submit_ms,
                "guideline_version": annotation.guideline_version,
                "config_version": annotation.config_version,
            }
        )
    return out


def review_payload(review: Review) -> dict[str, Any]:
    """The review as its reviewer sees it. An audit item shows no
    annotations until the reviewer has labelled it blind."""
    item = review.item
    hidden = review.kind == ReviewKind.AUDIT and review.blind_at is None
    annotations = (
        [] if hidden else review_annotations(review, anonymous=review.project.anonymous_review)
    )
    return {
        "id": review.pk,
        "project": review.project_id,
        "kind": review.kind,
        "state": review.state,
        "item": {"id": item.pk, "external_id": item.external_id, "data": item.data},
        "leased_until": _time(review.expires_at),
        "blind": hidden,
        "blind_value": review.blind_value,
        "annotations": annotations,
        "disputed": sorted({c for a in annotations for c in a["disputed"]}),
        "config_version": review.config_version,
        "guideline_version": review.guideline_version,
        "gold_revision": review.gold_revision_id,
    }


def gold_payload(gold: GoldRecord | GoldRevision, *, revision: int | None = None) -> dict:
    number = revision if revision is not None else getattr(gold, "revision", None)
    return {
        "id": gold.gold_id if isinstance(gold, GoldRevision) else gold.pk,
        "item": gold.item_id,
        "revision": number if number is not None else gold.number,
        "value": gold.value,
        "excluded": gold.excluded,
        "source": gold.source,
        "annotations": gold.annotation_ids,
        "reviewer": gold.reviewer_id,
        "reason": gold.reason,
        "reason_code": gold.reason_code,
        "config_version": gold.config_version,
        "guideline_version": gold.guideline_version,
        "min_guideline_version": gold.min_guideline_version,
        "decided_at": _time(gold.decided_at),
    }


def gold_history(gold: GoldRecord) -> list[dict]:
    return [
        gold_payload(rev, revision=rev.number)
        for rev in GoldRevision.objects.filter(gold=gold).order_by("number")
    ]


def precedents(review_or_gold, *, limit: int = PRECEDENTS) -> list[dict[str, Any]]:
    """Earlier reviewer decisions on items with the same labels in dispute,
    newest first, with their reasons."""
    project = review_or_gold.project
    task_type, config = _names(project, project.config_version)
    values = list(
        Annotation.objects.filter(
            item_id=review_or_gold.item_id, assignment__state="submitted"
        ).values_list("value", flat=True)
    )
    key = dispute_key(task_type, values, config)
    if not key:
        return []
    codes = {c["key"]: c["name"] for c in project.reason_codes}
    rows = (
        GoldRecord.objects.filter(project=project, dispute=key)
        .exclude(source=GoldSource.CONSENSUS)
        .exclude(item_id=review_or_gold.item_id)
        .select_related("item")
        .order_by("-decided_at")[:limit]
    )
    return [
        {
            "gold": g.pk,
            "item": g.item_id,
            "text": task_type.item_text(g.item.data)[:ITEM_TEXT],
            "value": g.value,
            "display": "excluded" if g.excluded else task_type.display_value(g.value, config),
            "excluded": g.excluded,
            "reason": g.reason,
            "reason_code": g.reason_code,
            "reason_name": codes.get(g.reason_code, g.reason_code),
            "decided_at": _time(g.decided_at),
        }
        for g in rows
    ]


# --- feedback ---------------------------------------------------------------------------


def unseen_feedback(project: Project, user) -> int:
    return Feedback.objects.filter(project=project, annotator=user, seen_at__isnull=True).count()


@dataclass
class FeedbackRow:
    id: int
    item_id: int
    item_label: str
    text: str
    yours: str
    gold: str
    reason: str
    reason_name: str
    decided_at: Any
    seen: bool
    payload: dict


def feedback_for(project: Project, user, *, limit: int = 200) -> list[FeedbackRow]:
    """The caller's overruled annotations, newest first (their own only)."""
    rows = (
        Feedback.objects.filter(project=project, annotator=user)
        .select_related("annotation__item", "gold_revision")
        .order_by("-id")[:limit]
    )
    codes = {c["key"]: c["name"] for c in project.reason_codes}
    out = []
    for fb in rows:
        annotation, gold = fb.annotation, fb.gold_revision
        task_type, config = _names(project, gold.config_version)
        text = task_type.item_text(annotation.item.data)
        out.append(
            FeedbackRow(
                id=fb.pk,
                item_id=annotation.item_id,
                item_label=item_label(annotation.item, task_type_key=project.task_type),
                text=text[:ITEM_TEXT],
                yours=task_type.display_value(annotation.value, config),
                gold=task_type.display_value(gold.value, config),
                reason=gold.reason,
                reason_name=codes.get(gold.reason_code, gold.reason_code),
                decided_at=gold.decided_at,
                seen=fb.seen_at is not None,
                payload={
                    "id": fb.pk,
                    "annotation": annotation.pk,
                    "item": {
                        "id": annotation.item_id,
                        "external_id": annotation.item.external_id,
                        "text": text[:ITEM_TEXT],
                    },
                    "your_value": annotation.value,
                    "gold_value": gold.value,
                    "reason": gold.reason,
                    "reason_code": gold.reason_code,
                    "decided_at": _time(gold.decided_at),
                    "seen": fb.seen_at is not None,
                },
            )
        )
    return out


# --- the lead's view ------------------------------------------------------------------------


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
    from annotation.queue_selectors import unfinishable

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
            "since": _time(r.leased_at),
            "until": _time(r.expires_at),
        }
        for r in rows
    ]


# --- the gold list (Gold tab and API) -------------------------------------------------

GOLD_PAGE = 50
GOLD_FILTER_KEYS = ("label", "source", "reviewer", "decided_from", "decided_to")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class GoldFilters:
    labels: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    reviewer: int | None = None
    decided_from: datetime | None = None
    decided_to: datetime | None = None

    @property
    def active(self) -> bool:
        return bool(
            self.labels or self.sources or self.reviewer or self.decided_from or self.decided_to
        )


def _values(params: Mapping[str, Any], key: str) -> list[str]:
    """Every value of a repeated query parameter (``?label=a&label=b``),
    blanks dropped (an empty select or date field of a GET form)."""
    raw = params.getlist(key) if hasattr(params, "getlist") else params.get(key) or []
    if isinstance(raw, str):
        raw = [raw]
    return [v.strip() for v in raw if isinstance(v, str) and v.strip()]


def _decided_bound(raw: str, name: str, project: Project) -> datetime:
    """A day (``2025-06-30``: in the project's time zone, from its start for
    decided_from, through its end for decided_to) or an ISO 8601 time
    (without an offset: the project's time zone)."""
    zone = zoneinfo.ZoneInfo(project.time_zone)
    if _DAY.match(raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput("is not a date (YYYY-MM-DD)", field=name) from None
        if name == "decided_to":
            if day == date.max:
                raise InvalidInput("is past the last day there is", field=name)
            day += timedelta(days=1)
        return datetime.combine(day, time.min, tzinfo=zone)
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidInput("must be a date (YYYY-MM-DD) or an ISO 8601 time", field=name)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def gold_filters_parse(project: Project, params: Mapping[str, Any]) -> GoldFilters:
    """The gold list's filters from a query string, for the page and the
    API alike: every problem a {field, reason} (InvalidInput, 400)."""
    errors: list[dict[str, str]] = []
    labels = _values(params, "label")
    if labels:
        row = config_version(project.pk, project.config_version)
        known = {
            label["key"]
            for label in row.config.get("labels", [])
            if isinstance(label, dict) and "key" in label
        }
        if not known:
            errors.append({"field": "label", "reason": "this task type has no labels"})
        for label in labels:
            if known and label not in known:
                errors.append({"field": "label", "reason": f"unknown label {label[:100]!r}"})
    sources = [s.replace("_", "-") for s in _values(params, "source")]
    for source in sources:
        if source not in GoldSource.values:
            errors.append(
                {
                    "field": "source",
                    "reason": f"unknown source {source[:100]!r}; use "
                    + ", ".join(GoldSource.values),
                }
            )
    reviewer = None
    raw = _values(params, "reviewer")
    if raw:
        if len(raw) > 1 or not (raw[0].isascii() and raw[0].isdigit() and len(raw[0]) < 19):
            errors.append({"field": "reviewer", "reason": "must be one user id"})
        else:
            reviewer = int(raw[0])
            # The same answer for a user who does not exist and for one of
            # another project: the filter names nobody outside this one.
            if not (
                Membership.objects.filter(project=project, user_id=reviewer).exists()
                or GoldRecord.objects.filter(project=project, reviewer_id=reviewer).exists()
            ):
                errors.append({"field": "reviewer", "reason": "no such reviewer in this project"})
    bounds: dict[str, datetime | None] = {}
    for name in ("decided_from", "decided_to"):
        values = _values(params, name)
        bounds[name] = None
        if len(values) > 1:
            errors.append({"field": name, "reason": "give it once"})
        elif values:
            try:
                bounds[name] = _decided_bound(values[0][:100], name, project)
            except InvalidInput as exc:
                errors += exc.errors
    if bounds["decided_from"] and bounds["decided_to"]:
        if bounds["decided_from"] >= bounds["decided_to"]:
            errors.append({"field": "decided_to", "reason": "must be after decided_from"})
    if errors:
        raise InvalidInput(errors)
    return GoldFilters(
        labels=tuple(sorted(set(labels))),
        sources=tuple(sorted(set(sources))),
        reviewer=reviewer,
        decided_from=bounds["decided_from"],
        decided_to=bounds["decided_to"],
    )


def _holds_label(project: Project, labels: tuple[str, ...]) -> Q:
    """The gold value is one of ``labels``, or a list (multi-label) holding
    one of them."""
    cond = Q(value__in=list(labels))
    if connection.vendor == "postgresql":
        for label in labels:
            cond |= Q(value__contains=[label])
        return cond
    # SQLite's JSON1 has no containment operator: look into the lists.
    table = GoldRecord._meta.db_table
    marks = ", ".join(["%s"] * len(labels))
    listed = RawSQL(  # noqa: S611 - our table and placeholders
        f"SELECT g.id FROM {table} g, json_each(g.value) e WHERE g.project_id = %s "  # noqa: S608 - our table
        f"AND json_type(g.value) = 'array' AND e.type = 'text' AND e.value IN ({marks})",
        [project.pk, *labels],
    )
    return cond | Q(pk__in=listed)


def gold_records(project: Project, filters: GoldFilters) -> QuerySet[GoldRecord]:
    """The project's gold records that pass ``filters``, unordered (the page
    reads them newest first, the API by id; both page by the immutable id)."""
    rows = GoldRecord.objects.filter(project=project)
    if filters.labels:
        rows = rows.filter(_holds_label(project, filters.labels), excluded=False)
    if filters.sources:
        rows = rows.filter(source__in=filters.sources)
    if filters.reviewer is not None:
        rows = rows.filter(reviewer_id=filters.reviewer)
    if filters.decided_from:
        rows = rows.filter(decided_at__gte=filters.decided_from)
    if filters.decided_to:
        rows = rows.filter(decided_at__lt=filters.decided_to)
    return rows


def gold_page(
    project: Project, filters: GoldFilters, *, before: int | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the gold list, newest record first, keyset on the gold
    record's id (immutable: a new adjudication changes the row, not its
    place); and the id to continue before, or None on the last page."""
    size = GOLD_PAGE
    rows = gold_records(project, filters)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    page = list(rows.select_related("item", "reviewer").order_by("-pk")[: size + 1])
    more = page[size - 1].pk if len(page) > size else None
    out = []
    for gold in page[:size]:
        row = config_version(project.pk, gold.config_version)
        task_type = task_type_for(row.task_type)
        out.append(
            {
                "gold": gold,
                "item_label": item_label(gold.item, task_type_key=row.task_type),
                "text": task_type.item_text(gold.item.data)[:160],
                "display": "Excluded"
                if gold.excluded
                else task_type.display_value(gold.value, row.config),
            }
        )
    return out, more


def gold_reviewer_choices(project: Project) -> list[tuple[int, str]]:
    """The people the page's reviewer filter offers: the project's
    reviewers (a former one is still reachable by id in the URL)."""
    return list(
        Membership.objects.filter(project=project, is_reviewer=True)
        .order_by("user__username")
        .values_list("user_id", "user__username")
    )
