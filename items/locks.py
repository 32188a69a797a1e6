"""The lock that serialises writers of a project's items.

Imports classify rows against the item table and then insert them, so two
writers into one project must not interleave. A transaction-scoped advisory
lock on PostgreSQL (not the project row: a long import must not block a lead
editing members); on SQLite, IMMEDIATE transactions already serialise writers.

An embedded-mode (SQLite) import writes in many short transactions, so it
needs a lock that outlives each of them: the project's ``ImportStaging``
row, held by the import job from its first staged row to its publication.
A holder whose job finished, or went silent for ``STAGING_STALE``, was
killed: the next import (or the job's own retry) takes the row over and
removes what it left.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accord.errors import Conflict
from accord.sql import LockNamespace, advisory_xact_lock
from projects.models import Job, JobStatus

from .models import ImportStaging

# A staging import reports progress (its heartbeat) at least twice a second.
STAGING_STALE = timedelta(seconds=60)


def lock_project_items(project_id: int) -> None:
    """Call inside the transaction that writes the items."""
    advisory_xact_lock(LockNamespace.ITEMS, project_id)


def staging_holder(project_id: int) -> int | None:
    """The import job holding the project's items, live or not."""
    return (
        ImportStaging.objects.filter(project_id=project_id).values_list("job_id", flat=True).first()
    )


def job_alive(job_id: int) -> bool:
    beat = (
        Job.objects.filter(pk=job_id, status=JobStatus.RUNNING)
        .values_list("heartbeat_at", flat=True)
        .first()
    )
    return beat is not None and beat > timezone.now() - STAGING_STALE


def refuse_while_importing(project_id: int) -> None:
    """Other writers of new items wait for a staging import to publish: it
    classified its rows against the items it saw when it started."""
    holder = staging_holder(project_id)
    if holder is not None and job_alive(holder):
        raise Conflict("An import into this project is running; add items when it has finished.")
