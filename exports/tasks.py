from __future__ import annotations

from celery import shared_task

from projects.jobs import run_job

# The export's modules are imported when an export task runs, not when this
# module is: they load the formats' libraries (pyarrow, about 40 MB), which
# a process that never exports (an import job, a management command) should
# not carry. This module is imported at start-up to register the job kind.

KIND = "export"


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def export_dataset(job_id: int) -> None:
    """Run export job ``job_id``; safe to deliver twice (projects.jobs): a
    second delivery finds the job's lock taken, a redelivery after a killed
    worker starts the export over."""
    from .job import export_run  # heavy: see the top of this module

    run_job(job_id, export_run)


@shared_task(ignore_result=True)
def sweep_work_folders() -> int:
    """Hourly: remove the work folders of exports that are over."""
    from .bundle import work_folders_sweep  # heavy: see the top of this module

    return work_folders_sweep()


def work_folder_remove(job_id: int) -> None:
    """The export kind's leftovers cleaner (projects.jobs)."""
    from .bundle import work_folder_remove as remove  # heavy: see the top of this module

    remove(job_id)
