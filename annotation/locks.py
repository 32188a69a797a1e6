"""The lock that serialises writers of a project's items.

Imports classify rows against the item table and then insert them, so two
writers into one project must not interleave. A transaction-scoped advisory
lock on PostgreSQL (not the project row: a long import must not block a lead
editing members); on SQLite, IMMEDIATE transactions already serialise writers.
"""

from __future__ import annotations

from django.db import connection

NAMESPACE = 0x17E5


def lock_project_items(project_id: int) -> None:
    """Call inside the transaction that writes the items."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [NAMESPACE, project_id])
