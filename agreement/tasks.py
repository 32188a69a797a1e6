from __future__ import annotations

from celery import shared_task

from projects.jobs import run_job
from projects.models import Project

from .services import DEBOUNCED_TASK, report_run, report_start, reports_refresh


# Named as before the restructure (issue 19) when it lived in review/tasks.py:
# messages already in the broker and job rows (Job.task) still find it.
@shared_task(
    name="review.tasks.agreement_report",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def agreement_report(job_id: int) -> None:
    """Run agreement job ``job_id``; safe to deliver twice (projects.jobs)."""
    run_job(job_id, report_run)


@shared_task(name=DEBOUNCED_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def agreement_debounced(project_id: int) -> None:
    """The end of a debounce window: one report for the burst before it."""
    project = Project.objects.filter(pk=project_id, archived_at__isnull=True).first()
    if project is not None:
        report_start(project=project, user=None)


# Named as before the restructure (issue 19) when it lived in review/tasks.py:
# messages already in the broker and job rows (Job.task) still find it.
@shared_task(name="review.tasks.refresh_reports", ignore_result=True)
def refresh_reports() -> int:
    """Hourly: a report for every project whose data changed since its last."""
    return reports_refresh()
