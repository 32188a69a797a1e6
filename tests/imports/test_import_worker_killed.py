"""A worker killed mid-import leaves nothing half-done marked done, and the
redelivered job gives exactly the expected rows (SECURITY.md F2, F4, F6, F9).
A duplicate delivery while the job runs does nothing."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from accord.celery import app
from items.importer import ImportOptions, import_run
from items.models import Item
from items.tasks import import_items
from projects.jobs import job_create, run_job
from projects.models import Job
from tests.conftest import start_worker, stop_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

N = 80_000
QUEUE = "import-kill-test"


def big_file() -> str:
    body = "\n".join(
        json.dumps({"text": f"item number {i} " + "lorem ipsum " * 10}) for i in range(N)
    )
    return default_storage.save("imports/test-kill.jsonl", ContentFile(body.encode()))


def new_import_job(project, lead) -> Job:
    options = ImportOptions(format="jsonl").__dict__
    return job_create(
        project=project,
        kind="import",
        user=lead,
        params={"file": big_file(), "filename": "k.jsonl", "options": options},
    )


def test_killed_worker_then_redelivery_gives_exactly_the_rows(celery_worker, project, lead):
    app.control.purge()
    job = new_import_job(project, lead)
    # A queue of its own, so the suite's shared worker never takes the task.
    first = start_worker("doomed", queue=QUEUE, ACCORD_BROKER_VISIBILITY_TIMEOUT="3")
    try:
        import_items.apply_async(args=[job.pk], queue=QUEUE)
        # Kill it once it is visibly halfway through staging.
        wait_until(lambda: Job.objects.get(pk=job.pk).done > 0, 60, "progress")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    killed = Job.objects.get(pk=job.pk)
    assert killed.status == "running"
    assert Item.objects.filter(project=project).count() == 0  # nothing half-published

    # A worker restores unacknowledged messages older than the visibility
    # timeout when it starts polling: let the killed one's message age first.
    time.sleep(3.5)
    second = start_worker("heir", queue=QUEUE, ACCORD_BROKER_VISIBILITY_TIMEOUT="3")
    try:
        done = wait_until(
            lambda: (j := Job.objects.get(pk=job.pk)).is_finished and j,
            120,
            "the redelivered job to finish",
        )
    finally:
        stop_worker(second)
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    assert done.result["created"] == N
    assert Item.objects.filter(project=project).count() == N


def test_a_duplicate_delivery_while_running_does_nothing(project, lead):
    job = new_import_job(project, lead)
    started = threading.Event()

    def first_delivery():
        try:
            run_job(job.pk, import_run, listener=lambda done, total: started.set())
        finally:
            connection.close()

    thread = threading.Thread(target=first_delivery)
    thread.start()
    assert started.wait(30)
    run_job(job.pk, import_run)  # the second delivery finds the lock taken
    thread.join()
    finished = Job.objects.get(pk=job.pk)
    assert (finished.status, finished.attempts, finished.result["created"]) == ("succeeded", 1, N)
    assert Item.objects.filter(project=project).count() == N
