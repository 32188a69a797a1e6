"""What a compared item has: its submitted annotations as review reads them,
which categories are in dispute among them, and the task type they were
made under."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connection

import tasktypes
from accord.sql import dialect
from annotation.models import Annotation, Assignment
from projects.selectors import config_version
from tasktypes.base import TaskType

MAX_DISPUTE = 255


@dataclass(frozen=True)
class Submission:
    """One submitted annotation of an item, as the comparison reads it."""

    id: int
    annotator_id: int
    value: Any
    config_version: int
    guideline_version: int | None


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def submissions(item_id: int) -> list[Submission]:
    """The item's submitted annotations, in submit order."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT n.id, n.annotator_id, n.value, n.config_version, n.guideline_version "  # noqa: S608
            f"FROM {Annotation._meta.db_table} n WHERE n.item_id = %s "
            # From the item's few annotations, each assignment probed by its
            # key: never from the project's submitted assignments, which
            # the planner chose on tables it had no statistics for.
            f"AND EXISTS (SELECT 1 FROM {Assignment._meta.db_table} a WHERE a.id = n.assignment_id "
            f"AND a.state = 'submitted'{dialect().fence()}) "
            "ORDER BY n.id",
            [item_id],
        )
        return [
            Submission(pk, user, _json(value), cv, gv)
            for pk, user, value, cv, gv in cursor.fetchall()
        ]


def dispute_key(task_type: TaskType, values: list[Any], config: dict) -> str:
    """The categories some but not all annotators chose ("neg|pos"): what the
    "decided before" panel matches earlier adjudications on."""
    if len(values) < 2:
        return ""
    sets = [set(map(str, task_type.agreement_categories(v, config))) for v in values]
    disputed = set().union(*sets) - set.intersection(*sets)
    return "|".join(sorted(disputed))[:MAX_DISPUTE]


def guideline_min(rows: list[Submission]) -> int | None:
    """The oldest guideline version the annotations were made under."""
    versions = [r.guideline_version for r in rows if r.guideline_version is not None]
    return min(versions) if versions else None


def guideline_max(rows: list[Submission]) -> int | None:
    """The newest guideline version the annotations were made under."""
    versions = [r.guideline_version for r in rows if r.guideline_version is not None]
    return max(versions) if versions else None


def task_config(project_id: int, number: int) -> tuple[TaskType, dict]:
    """The task type and label config of a config version."""
    row = config_version(project_id, number)
    return tasktypes.get(row.task_type), row.config
