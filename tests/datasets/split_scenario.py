"""Split assignment on the same data, on whichever database Django uses.

``run`` makes a lead and two projects with a fixed split salt through the
services, adds skewed single-label gold in bulk (one project keyed by a
document id in ``meta``, with string, number and boolean ids and items
without one), and assigns splits in two rounds (the gold grows between
them, and the second round asks other shares). It returns each item's split
by its text; ``export_round`` then adds gold and exports with splits. Run
on an empty database it gives the same answer on both databases: the
PostgreSQL side imports it, the SQLite side runs ``main`` in an
embedded-mode subprocess.
"""

from __future__ import annotations

import hashlib
import json

SALT = "a-fixed-salt-for-both-databases"
FIRST = {"train": 0.8, "validation": 0.1, "test": 0.1}
SECOND = {"train": 0.5, "validation": 0.25, "test": 0.25}
# A single-label config (tests.conftest.CLASSIFICATION_CONFIG without hotkeys).
CONFIG = {
    "multi_label": False,
    "labels": [
        {"key": "pos", "name": "Positive"},
        {"key": "neg", "name": "Negative"},
        {"key": "neu", "name": "Neutral"},
    ],
}


# Skewed: six pos, three neg, one neu in ten.
CYCLE = ("pos",) * 6 + ("neg",) * 3 + ("neu",)


def labels(n: int, start: int) -> list[str]:
    return [CYCLE[(start + k) % len(CYCLE)] for k in range(n)]


def doc_of(k: int):
    """A document id of mixed JSON types; None for no ``doc`` field."""
    if k % 11 == 0:
        return None
    if k % 7 == 0:
        return k % 5  # a number: the same group as the text "0".."4"
    if k % 13 == 0:
        return k % 2 == 0  # a boolean
    return str(k % 9) if k % 3 == 0 else f"doc-{k % 23}"


def _add(project, prefix: str, n: int, start: int, *, grouped: bool) -> None:
    from django.utils import timezone

    from items.models import Item
    from review.models import GoldRecord

    texts = [f"{prefix} {start + k}" for k in range(n)]
    metas = []
    for k in range(start, start + n):
        doc = doc_of(k)
        metas.append({} if not grouped or doc is None else {"doc": doc})
    items = Item.objects.bulk_create(
        [
            Item(
                project=project,
                data={"text": text},
                meta=meta,
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
                state="gold",
            )
            for text, meta in zip(texts, metas, strict=True)
        ]
    )
    now = timezone.now()
    GoldRecord.objects.bulk_create(
        [
            GoldRecord(
                project=project, item=item, value=label, source="consensus",
                config_version=1, decided_at=now,
            )
            for item, label in zip(items, labels(n, start), strict=True)
        ]
    )  # fmt: skip


def _assign(project, spec: dict, group_by: str | None) -> int:
    from django.db import connection

    from exports.splits import splits_assign
    from review.models import GoldRecord

    bucket = (
        "g.value #>> '{}'" if connection.vendor == "postgresql" else "json_extract(g.value, '$')"
    )
    _, assigned = splits_assign(
        project=project,
        spec=spec,
        group_by=group_by,
        selection=f"FROM {GoldRecord._meta.db_table} g JOIN annotation_item i "  # noqa: S608
        "ON i.id = g.item_id WHERE g.project_id = %s",
        selection_params=[project.pk],
        bucket_sql=bucket,
    )
    return assigned


def run() -> dict:
    from django.contrib.auth import get_user_model

    from exports.models import ItemSplit
    from projects import services
    from projects.models import Project

    lead = get_user_model().objects.create_user("split-lead", password=None)
    out: dict = {"assigned": []}
    for name, group_by in (("plain", None), ("grouped", "doc")):
        project = services.project_create(
            user=lead, name=name, task_type="classification", config=CONFIG
        )
        Project.objects.filter(pk=project.pk).update(split_salt=SALT)
        project.refresh_from_db()
        grouped = group_by is not None
        _add(project, name, 200, 0, grouped=grouped)
        out["assigned"].append(_assign(project, FIRST, group_by))
        _add(project, name, 60, 200, grouped=grouped)
        out["assigned"].append(_assign(project, SECOND, group_by))
        out["assigned"].append(_assign(project, SECOND, group_by))  # nothing left
        rows = ItemSplit.objects.filter(item__project=project).values_list("item__data", "split")
        out[name] = {data["text"]: split for data, split in rows}
    return out


def export_round() -> dict:
    """After ``run``: more gold, then a JSONL export with splits through the
    services, which assigns the new items theirs. Its counts, and every
    item's split after it."""
    from django.contrib.auth import get_user_model

    from exports.models import ItemSplit
    from projects.models import Project
    from tests.datasets.exporting import export_now

    project = Project.objects.get(name="plain")
    _add(project, "plain", 30, 500, grouped=False)
    lead = get_user_model().objects.get(username="split-lead")
    version = export_now(project, lead, splits=FIRST)
    rows = ItemSplit.objects.filter(item__project=project).values_list("item__data", "split")
    return {
        "status": version.status,
        "records": version.records,
        "assigned": version.datasheet.get("splits_assigned_now"),
        "counts": version.counts,
        "splits": {data["text"]: split for data, split in rows},
    }


def main() -> None:
    result = run()
    result["export"] = export_round()
    print("RESULT " + json.dumps(result, sort_keys=True))
