from __future__ import annotations

from celery import shared_task

from projects.jobs import run_job

from .bundle import work_folders_sweep
from .job import export_run


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def export_dataset(job_id: int) -> None:
    """Run export job ``job_id``; safe to deliver twice (projects.jobs): a
    second delivery finds the job's lock taken, a redelivery after a killed
    worker starts the export over."""
    run_job(job_id, export_run)


@shared_task(ignore_result=True)
def sweep_work_folders() -> int:
    """Hourly: remove the work folders of exports that are over."""
    return work_folders_sweep()
