"""Per-project counters, incremented in the caller's transaction.

One upsert per change (``INSERT … ON CONFLICT DO UPDATE``, which PostgreSQL
and SQLite both speak), so concurrent writers never lose an increment.
"""

from __future__ import annotations

from django.db import connection

from .models import ProjectCounter


def counter_add(project_id: int, name: str, delta: int) -> None:
    if not delta:
        return
    table = ProjectCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (project_id, name, value) VALUES (%s, %s, %s) "  # noqa: S608 - table name is ours
            f"ON CONFLICT (project_id, name) DO UPDATE SET value = {table}.value + excluded.value",
            [project_id, name, delta],
        )


def counters_for(project_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {pid: {} for pid in project_ids}
    for project_id, name, value in ProjectCounter.objects.filter(
        project_id__in=project_ids
    ).values_list("project_id", "name", "value"):
        out[project_id][name] = value
    return out


class CounterBatch:
    """The counter changes of one transaction, written together at its end.

    A project's totals are hot rows that every submission updates. Written
    last, in one statement, in name order, their row locks are held only from
    there to the commit and are always taken in the same order, so concurrent
    writers neither queue behind a whole transaction nor deadlock.
    """

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self.deltas: dict[str, int] = {}

    def add(self, name: str, delta: int) -> None:
        self.deltas[name] = self.deltas.get(name, 0) + delta

    def flush(self) -> None:
        rows = [(name, delta) for name, delta in sorted(self.deltas.items()) if delta]
        self.deltas = {}
        if not rows:
            return
        table = ProjectCounter._meta.db_table
        values = ", ".join(["(%s, %s, %s)"] * len(rows))
        params = [v for name, delta in rows for v in (self.project_id, name, delta)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (project_id, name, value) VALUES {values} "  # noqa: S608 - our table
                f"ON CONFLICT (project_id, name) DO UPDATE SET value = {table}.value + excluded.value",
                params,
            )
