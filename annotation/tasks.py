from __future__ import annotations

from celery import shared_task

from projects.jobs import run_job

from .queue.release import leases_expire
from .reconcile import counters_reconcile_all, requeue_run


@shared_task(ignore_result=True)
def expire_leases() -> int:
    """Give back the slots of annotation leases past their end (every 30 s;
    review leases end in review.tasks.expire_review_leases)."""
    return leases_expire()


@shared_task(ignore_result=True)
def reconcile_counters() -> dict:
    """Recount the queue's counters and report any drift (hourly)."""
    return counters_reconcile_all()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def requeue(job_id: int) -> None:
    run_job(job_id, requeue_run)
