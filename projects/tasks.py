from __future__ import annotations

from celery import shared_task

from .jobs import jobs_fail_stale, jobs_recover


@shared_task(ignore_result=True)
def fail_stale_jobs() -> int:
    return jobs_fail_stale()


@shared_task(ignore_result=True)
def recover_jobs() -> dict:
    """Requeue the jobs of dead workers; send messages the broker never got."""
    return jobs_recover()
