from __future__ import annotations

from celery import shared_task

from projects.jobs import run_job

from .importer import import_discard_upload, import_run
from .services import priorities_run
from .staging import staging_sweep


# Named as before the restructure (issue 19) when it lived in annotation/tasks.py:
# messages already in the broker and job rows (Job.task) still find it.
@shared_task(
    name="annotation.tasks.import_items",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def import_items(job_id: int) -> None:
    """Run import job ``job_id``; safe to deliver twice (projects.jobs)."""
    run_job(job_id, import_run)
    import_discard_upload(job_id)


@shared_task(ignore_result=True)
def sweep_staged_imports() -> int:
    """Remove what killed embedded-mode imports staged (hourly)."""
    return staging_sweep()


# Named as before the restructure (issue 19) when it lived in annotation/tasks.py:
# messages already in the broker and job rows (Job.task) still find it.
@shared_task(
    name="annotation.tasks.set_priorities",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def set_priorities(job_id: int) -> None:
    run_job(job_id, priorities_run)
