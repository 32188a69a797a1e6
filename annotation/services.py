"""Writes on items and annotations. (The streamed import and the queue build
on these.)"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, FloatField, Value, When

from accord.errors import Conflict, InvalidInput
from projects.counters import counter_add
from projects.jobs import JobContext
from projects.models import Project, QueueOrder

from . import tasktypes
from .canonical import content_hash
from .locks import lock_project_items, refuse_while_importing
from .models import Item, ItemState


@dataclass
class ItemRow:
    data: dict
    external_id: str | None = None
    meta: dict | None = None


@transaction.atomic
def items_create(*, project: Project, rows: Iterable[ItemRow], config: dict) -> int:
    """Validate ``rows`` through the task type and insert the new ones;
    return how many were created.

    Exact duplicates (same content hash, in the batch or already stored) are
    skipped. For small batches (the demo, tests): files go through the
    streamed import.
    """
    from .queue.ranks import item_rank

    lock_project_items(project.pk)
    refuse_while_importing(project.pk)
    task_type = tasktypes.get(project.task_type)
    items: dict[str, Item] = {}
    for row in rows:
        data = task_type.validate_item(row.data, config)
        digest = content_hash(data)
        items.setdefault(
            digest,
            Item(
                project=project,
                data=data,
                external_id=row.external_id,
                meta=row.meta or {},
                content_hash=digest,
                rank=item_rank(project, priority=0.0, content_hash=digest),
                overlap=project.overlap,
                free_slots=project.overlap,
            ),
        )
    existing = set(
        Item.objects.filter(project=project, content_hash__in=list(items)).values_list(
            "content_hash", flat=True
        )
    )
    new = [item for digest, item in items.items() if digest not in existing]
    Item.objects.bulk_create(new, batch_size=1000)
    counter_add(project.pk, "items:total", len(new))
    counter_add(project.pk, f"items:{ItemState.OPEN}", len(new))
    if new and project.queue_order != QueueOrder.IMPORT:
        # New items may sort before where annotators' cursors are (as in
        # the streamed import).
        from .reconcile import cursors_reseed

        cursors_reseed(project)
    return len(new)


def _move_counters(project_id: int, moves: dict[str, int], to_state: str) -> None:
    for state, n in moves.items():
        counter_add(project_id, f"items:{state}", -n)
        counter_add(project_id, f"items:{to_state}", n)


def _state_counts(items) -> dict[str, int]:
    from django.db.models import Count

    return {
        row["state"]: row["n"] for row in items.values("state").annotate(n=Count("id")).order_by()
    }


@transaction.atomic
def items_delete(*, project: Project, ids: list[int]) -> int:
    """Delete items nobody has worked on yet. An item with annotations is
    refused (archive it instead) and nothing is deleted."""
    # Lock the rows first, then read them without FOR UPDATE (PostgreSQL
    # refuses it with GROUP BY and DISTINCT).
    found = set(
        Item.objects.select_for_update()
        .filter(project=project, pk__in=ids)
        .values_list("pk", flat=True)
    )
    missing = sorted(set(ids) - found)
    if missing:
        raise InvalidInput(f"no item {missing[0]} in this project", field="ids")
    from .models import Annotation

    worked = sorted(
        set(Annotation.objects.filter(item_id__in=found).values_list("item_id", flat=True))
    )
    if worked:
        raise Conflict(
            "Some items already have annotations; archive them instead.", items=worked[:10]
        )
    items = Item.objects.filter(pk__in=found)
    counts = _state_counts(items)
    deleted, _ = items.delete()
    for state, n in counts.items():
        counter_add(project.pk, f"items:{state}", -n)
    counter_add(project.pk, "items:total", -len(found))
    return len(found)


@transaction.atomic
def items_archive(*, project: Project, ids: list[int]) -> int:
    """Soft-delete: archived items leave the queue, lists and exports, and
    keep their annotations."""
    found = dict(
        Item.objects.select_for_update()
        .filter(project=project, pk__in=ids)
        .values_list("pk", "state")
    )
    missing = sorted(set(ids) - set(found))
    if missing:
        raise InvalidInput(f"no item {missing[0]} in this project", field="ids")
    locked = [pk for pk, state in found.items() if state != ItemState.ARCHIVED]
    items = Item.objects.filter(pk__in=locked)
    counts = _state_counts(items)
    n = items.update(state=ItemState.ARCHIVED)
    _move_counters(project.pk, counts, ItemState.ARCHIVED)
    return n


def clean_priorities(raw) -> dict:
    """Validate a bulk priority request: {"priority": p, "ids": [...]} or
    {"priority": p, "filter": {...}} or {"items": [{"id"|"external_id", "priority"}]}."""
    if not isinstance(raw, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = sorted(set(raw) - {"priority", "ids", "filter", "items"})
    if unknown:
        raise InvalidInput([{"field": k[:100], "reason": "unknown field"} for k in unknown])
    modes = [k for k in ("ids", "filter", "items") if k in raw]
    if len(modes) != 1:
        raise InvalidInput("give exactly one of ids, filter or items")
    mode = modes[0]

    def number(value, field):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value != value
            or abs(value) > 1e15
        ):
            raise InvalidInput("must be a finite number", field=field)
        return float(value)

    if mode == "items":
        entries = raw["items"]
        if not isinstance(entries, list) or not entries or len(entries) > 1_000_000:
            raise InvalidInput(
                "must be a non-empty list of at most 1,000,000 entries", field="items"
            )
        out = []
        for i, entry in enumerate(entries):
            if (
                not isinstance(entry, dict)
                or set(entry) - {"id", "external_id", "priority"}
                or "priority" not in entry
            ):
                raise InvalidInput(
                    'each entry is {"id" or "external_id", "priority"}', field=f"items[{i}]"
                )
            key = entry.get("id", entry.get("external_id"))
            if key is None or ("id" in entry and "external_id" in entry):
                raise InvalidInput("give id or external_id", field=f"items[{i}]")
            out.append(
                [
                    "id" if "id" in entry else "external_id",
                    key,
                    number(entry["priority"], f"items[{i}].priority"),
                ]
            )
        return {"mode": "items", "items": out}
    priority = number(raw.get("priority"), "priority")
    if mode == "ids":
        ids = raw["ids"]
        if (
            not isinstance(ids, list)
            or not ids
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        ):
            raise InvalidInput("must be a non-empty list of item ids", field="ids")
        return {"mode": "ids", "ids": ids, "priority": priority}
    if not isinstance(raw["filter"], dict) or not all(
        isinstance(v, str) for v in raw["filter"].values()
    ):
        raise InvalidInput("must be an object of filter names to strings", field="filter")
    return {"mode": "filter", "filter": raw["filter"], "priority": priority}


def priorities_run(ctx: JobContext) -> None:
    """Apply a bulk priority change (a job). One transaction, so the queue
    sees the old priorities or the new ones, never a mix."""
    from .selectors import items_filter

    params = ctx.params
    project = Project.objects.get(pk=ctx.job.project_id)
    with transaction.atomic():
        if params["mode"] == "ids":
            n = Item.objects.filter(project=project, pk__in=params["ids"]).update(
                priority=params["priority"]
            )
        elif params["mode"] == "filter":
            n = items_filter(project, params["filter"]).update(priority=params["priority"])
        else:
            n = 0
            entries = params["items"]
            for start in range(0, len(entries), 1000):
                chunk = entries[start : start + 1000]
                by_id = {int(k): p for kind, k, p in chunk if kind == "id" and str(k).isdigit()}
                by_ext = {str(k): p for kind, k, p in chunk if kind == "external_id"}
                if by_id:
                    n += Item.objects.filter(project=project, pk__in=by_id).update(
                        priority=Case(
                            *[When(pk=k, then=Value(p)) for k, p in by_id.items()],
                            output_field=FloatField(),
                        )
                    )
                if by_ext:
                    n += Item.objects.filter(project=project, external_id__in=by_ext).update(
                        priority=Case(
                            *[When(external_id=k, then=Value(p)) for k, p in by_ext.items()],
                            output_field=FloatField(),
                        )
                    )
                ctx.progress(start + len(chunk), len(entries))
        if project.queue_order == QueueOrder.PRIORITY:
            # The queue follows at once: ranks and every cursor, in this transaction.
            from .reconcile import cursors_reseed, items_rerank

            items_rerank(project)
            cursors_reseed(project)
        ctx.succeed({"updated": n})
