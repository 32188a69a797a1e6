from __future__ import annotations

from celery import shared_task

from projects.jobs import run_job


@shared_task(ignore_result=True)
def expire_leases() -> int:
    """Give back the slots of annotation leases past their end, and end the
    review leases past theirs (every 30 s)."""
    from review.leases import reviews_expire

    from .queue import leases_expire

    return leases_expire() + reviews_expire()


@shared_task(ignore_result=True)
def reconcile_counters() -> dict:
    """Recount the queue's counters and report any drift (hourly)."""
    from .reconcile import counters_reconcile_all

    return counters_reconcile_all()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def requeue(job_id: int) -> None:
    from .reconcile import requeue_run

    run_job(job_id, requeue_run)
