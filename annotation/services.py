"""Writes on items and annotations. (The streamed import and the queue build
on these.)"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from projects.counters import counter_add
from projects.models import Project

from . import tasktypes
from .models import Item, ItemState


def content_hash(data: dict) -> str:
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
    return len(new)
