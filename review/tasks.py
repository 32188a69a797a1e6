from __future__ import annotations

from celery import shared_task

from projects.jobs import run_job

from .leases import reviews_expire


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def agreement_report(job_id: int) -> None:
    """Run agreement job ``job_id``; safe to deliver twice (projects.jobs)."""
    from .report_jobs import report_run

    run_job(job_id, report_run)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def agreement_debounced(project_id: int) -> None:
    """The end of a debounce window: one report for the burst before it."""
    from projects.models import Project

    from .report_jobs import report_start

    project = Project.objects.filter(pk=project_id, archived_at__isnull=True).first()
    if project is not None:
        report_start(project=project, user=None)


@shared_task(ignore_result=True)
def refresh_reports() -> int:
    """Hourly: a report for every project whose data changed since its last."""
    from .report_jobs import reports_refresh

    return reports_refresh()


@shared_task(ignore_result=True)
def expire_review_leases() -> int:
    """End the review leases past their time (every 30 s)."""
    return reviews_expire()
