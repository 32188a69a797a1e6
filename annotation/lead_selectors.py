"""What the lead's queue pages show, read in one call per page.

They compose the queue's own reads (annotation.selectors) with the
few rows a page needs beside them: an item's external id next to its lease,
a username next to a revision, the config a value was made under.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.http import Http404
from django.utils.text import Truncator

import tasktypes
from items.labels import item_label
from items.models import Item, ItemState
from projects.models import ConfigVersion, Project
from projects.selectors import project_item_counts

from . import selectors
from .models import Assignment, AssignmentState, RevisionKind

# Leases listed at most: beyond it the page says the table is cut short.
MAX_LEASES = 500
MAX_UNFINISHABLE = 200
# Characters of an item's text on its page: an item may hold a megabyte.
ITEM_TEXT_SHOWN = 20_000


@dataclass(frozen=True)
class QueueOverview:
    states: list[dict[str, Any]]  # state, label, count: from the counters
    total: int
    leases: list[dict[str, Any]]
    leases_cut: bool
    unfinishable: dict[str, Any]
    annotators: list[dict[str, Any]]


def queue_overview(project: Project) -> QueueOverview:
    """The Queue tab: items by state (counters), active leases, items that
    can no longer reach their overlap, and annotations and skips per
    annotator (counters)."""
    leases = selectors.active_leases(project, limit=MAX_LEASES)
    external = dict(
        Item.objects.filter(pk__in=[lease["item"] for lease in leases]).values_list(
            "pk", "external_id"
        )
    )
    annotators = selectors.annotator_counts(project)
    for row in annotators:
        seen = row["annotations"] + row["skips"]
        # The share of items shown that were skipped: a high share is
        # someone paging through the data by skipping.
        row["skip_share"] = round(100 * row["skips"] / seen) if seen else 0
    counts = project_item_counts(project)
    return QueueOverview(
        states=[
            {"state": state.value, "label": state.label, "count": counts[state.value]}
            for state in ItemState
        ],
        total=counts["total"],
        leases=[{**lease, "external_id": external.get(lease["item"])} for lease in leases],
        leases_cut=len(leases) >= MAX_LEASES,
        unfinishable=selectors.unfinishable(project, limit=MAX_UNFINISHABLE),
        annotators=annotators,
    )


def lease_brief(project: Project, assignment_id: int) -> dict[str, Any]:
    """Whose lease on which item, to name it in the lead's message; Http404
    for an assignment of another project, like lease_release."""
    row = (
        Assignment.objects.filter(pk=assignment_id, project=project)
        .select_related("item", "annotator")
        .first()
    )
    if row is None:
        raise Http404
    label = item_label(row.item, task_type_key=project.task_type)
    return {"item": label, "username": row.annotator.username}


@dataclass(frozen=True)
class Revision:
    number: int
    kind: str
    raw: str  # the value as stored (JSON); "" for an undo
    shown: str  # the value as its task type names it
    created_at: datetime

    @property
    def kind_label(self) -> str:
        return RevisionKind(self.kind).label


@dataclass
class AnnotatorHistory:
    assignment: Assignment
    revisions: list[Revision] = field(default_factory=list)

    @property
    def state_label(self) -> str:
        return AssignmentState(self.assignment.state).label


@dataclass(frozen=True)
class ItemHistory:
    item: Item
    text: str
    text_cut: int
    meta: list[tuple[str, str]]
    people: list[AnnotatorHistory]

    @property
    def state_label(self) -> str:
        return ItemState(self.item.state).label

    @property
    def label(self) -> str:
        return item_label(self.item)


def item_history(project: Project, item_id: Any) -> ItemHistory:
    """One item of ``project`` (else Http404) with every annotator's
    assignment on it and every revision of their annotation, oldest first.
    For leads only: it shows every annotator's values side by side."""
    item = selectors.project_item(project, item_id)
    assignments = list(
        Assignment.objects.filter(item=item).select_related("annotator").order_by("leased_at", "pk")
    )
    people = {a.pk: AnnotatorHistory(a) for a in assignments}
    configs = {
        row.number: row
        for row in ConfigVersion.objects.filter(
            project=project, number__in={a.config_version for a in assignments}
        )
    }
    for row in selectors.revisions(item_ids=[item.pk]):
        person = people.get(row["assignment"])
        if person is None:  # an assignment made after they were read
            continue
        person.revisions.append(
            Revision(
                number=row["number"],
                kind=row["kind"],
                raw="" if row["value"] is None else json.dumps(row["value"], ensure_ascii=False),
                shown=_shown(row["value"], configs.get(person.assignment.config_version)),
                created_at=row["created_at"],
            )
        )
    task_type = tasktypes.get(project.task_type)
    data = item.data if isinstance(item.data, dict) else {}
    text = task_type.item_text(data)
    meta = item.meta if isinstance(item.meta, dict) else {}
    return ItemHistory(
        item=item,
        text=Truncator(text).chars(ITEM_TEXT_SHOWN),
        text_cut=max(0, len(text) - ITEM_TEXT_SHOWN),
        meta=[
            (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
            for key, value in meta.items()
        ],
        people=list(people.values()),
    )


def _shown(value: Any, config: ConfigVersion | None) -> str:
    """A value as its task type names it under the config it was made with
    (a label's name, not its key)."""
    if value is None:
        return ""
    if config is None:
        return str(value)
    return tasktypes.get(config.task_type).display_value(value, config.config)
