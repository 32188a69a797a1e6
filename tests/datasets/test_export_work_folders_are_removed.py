"""An export's work folder in `exports/.work` goes with its job: when the job
is requeued after its worker died, when it finishes, and, for folders whose
job is over (a worker killed on the job's last attempt), by the hourly sweep.
A running job's folder is never touched."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from exports import bundle, start
from exports.tasks import sweep_work_folders
from projects.jobs import job_create, jobs_recover
from projects.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def left_behind(job: Job) -> str:
    """A folder with a file in it, as a killed attempt leaves it."""
    folder = os.path.join(default_storage.path(bundle.WORK_DIR), f"{bundle.WORK_PREFIX}{job.pk}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "a.jsonl"), "wb") as fh:
        fh.write(b'{"item_id": 1}\n')
    return folder


def test_a_requeued_exports_folder_is_removed(private_broker, project, lead):
    job = job_create(project=project, kind=start.KIND, user=lead)
    Job.objects.filter(pk=job.pk).update(
        status="running",
        attempts=1,
        task="exports.tasks.export_dataset",
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    folder = left_behind(job)
    jobs_recover()
    assert Job.objects.get(pk=job.pk).status == "queued"
    assert not os.path.exists(folder)


def test_the_sweep_removes_the_folders_of_jobs_that_are_over(project, lead):
    over = {
        s: job_create(project=project, kind=start.KIND, user=lead) for s in ("failed", "succeeded")
    }
    for status, job in over.items():
        Job.objects.filter(pk=job.pk).update(status=status, finished_at=timezone.now())
    running = job_create(project=project, kind=start.KIND, user=lead)
    Job.objects.filter(pk=running.pk).update(status="running")
    queued = job_create(project=project, kind=start.KIND, user=lead)
    gone = job_create(project=project, kind=start.KIND, user=lead)
    folders = {name: left_behind(job) for name, job in [*over.items(), ("running", running),
                                                         ("queued", queued), ("gone", gone)]}  # fmt: skip
    Job.objects.filter(pk=gone.pk).delete()
    assert sweep_work_folders() == 3
    assert {name for name, path in folders.items() if os.path.exists(path)} == {"running", "queued"}
