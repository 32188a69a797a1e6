from __future__ import annotations

from celery import shared_task

from projects.jobs import run_job

from .importer import import_discard_upload, import_run, staging_sweep
from .queue.release import leases_expire
from .reconcile import counters_reconcile_all, requeue_run
from .services import priorities_run


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def import_items(job_id: int) -> None:
    """Run import job ``job_id``; safe to deliver twice (projects.jobs)."""
    run_job(job_id, import_run)
    import_discard_upload(job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def set_priorities(job_id: int) -> None:
    run_job(job_id, priorities_run)


@shared_task(ignore_result=True)
def expire_leases() -> int:
    """Give back the slots of annotation leases past their end (every 30 s;
    review leases end in review.tasks.expire_review_leases)."""
    return leases_expire()


@shared_task(ignore_result=True)
def reconcile_counters() -> dict:
    """Recount the queue's counters and report any drift, and remove what
    killed embedded-mode imports staged (hourly)."""
    staging_sweep()
    return counters_reconcile_all()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def requeue(job_id: int) -> None:
    run_job(job_id, requeue_run)
