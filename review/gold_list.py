"""The gold list (the Gold tab and its API): filters parsed from a query
string, the matching records, and pages of them newest first."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime

from accord.errors import InvalidInput
from accord.sql import dialect
from items.labels import item_label
from projects.models import Membership, Project
from projects.selectors import config_version
from tasktypes import get as task_type_for

from .models import GoldRecord, GoldSource

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
    if dialect().is_postgresql:
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
