"""How the queue answers the hooks of the apps below it (connected in
annotation/apps.py)."""

from __future__ import annotations

from projects.models import Project

from .models import Annotation
from .reconcile import cursors_reseed, items_rerank


def queue_follow(*, project: Project, rerank: bool) -> None:
    """New items, or new priorities: ranks (when asked) and every
    annotator's cursor follow, in the caller's transaction."""
    if rerank:
        items_rerank(project)
    cursors_reseed(project)


def annotated_sql(*, alias: str) -> str:
    return f"EXISTS (SELECT 1 FROM {Annotation._meta.db_table} a WHERE a.item_id = {alias}.id)"  # noqa: S608 - our names


def annotation_values(*, project: Project):
    """Every value annotated in ``project``, streamed: a config change's impact."""
    rows = Annotation.objects.filter(project=project).values_list("value", flat=True)
    return rows.iterator(chunk_size=2000)
