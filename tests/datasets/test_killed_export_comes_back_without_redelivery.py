"""A worker killed mid-export: with the broker's visibility timeout at its
default (hours), the export still runs again as soon as the heartbeat bound
has passed and another worker is free, because beat's recovery sweep
requeues it; it finishes and reconciles, and the killed attempt's work
folder is gone (SECURITY.md F2, F6).

Real processes throughout, on a private Redis: a worker that is SIGKILLed,
beat, and the worker that takes over."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.core.files.storage import default_storage

from exports import bundle, start, versions
from projects import services
from projects.models import Job
from tests.conftest import start_beat, start_worker, stop_worker, wait_until

from .test_export_worker import bulk_project

pytestmark = pytest.mark.django_db(transaction=True)

STALE_SECONDS = 2.0  # the heartbeat bound; beat sweeps every 1 s (a quarter, at least 1 s)
SWEEP_SECONDS = 1.0


@pytest.fixture
def team(project, make_user):
    people = [make_user(f"bulk{i}") for i in range(4)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    return [p.pk for p in people]


def work_folders(job_id: int) -> list[str]:
    root = default_storage.path(bundle.WORK_DIR)
    return [name for name in os.listdir(root) if name == f"{bundle.WORK_PREFIX}{job_id}"]


def test_a_killed_export_is_requeued_and_completes(private_broker, tmp_path, project, lead, team):
    records = bulk_project(project, team, 50_000)
    # Every process on the private Redis, with its default visibility timeout.
    env = {"REDIS_URL": private_broker, "ACCORD_JOB_STALE_SECONDS": str(STALE_SECONDS)}
    beat = start_beat(tmp_path, **env)
    doomed = start_worker("doomed-export", **env)
    heir = None
    try:
        version = start.export_start(
            project=project,
            user=lead,
            raw={
                "format": "jsonl",
                "options": {"provenance": True},
                "splits": {"a": 0.5, "b": 0.5},
            },
        ).version
        job_id = version.job_id
        wait_until(lambda: Job.objects.get(pk=job_id).done > 0, 120, "export progress")
        assert work_folders(job_id)
        os.kill(doomed.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        doomed.wait()
        killed = Job.objects.get(pk=job_id)
        assert (killed.status, killed.attempts) == ("running", 1)

        heir = start_worker("heir-export", **env)
        heir_ready = time.monotonic()
        wait_until(
            lambda: Job.objects.get(pk=job_id).attempts == 2, 60, "the job to be taken again"
        )
        resumed_at = time.monotonic()
        done = wait_until(
            lambda: (j := Job.objects.get(pk=job_id)).is_finished and j, 300, "the export"
        )
    finally:
        for process in (doomed, heir, beat):
            if process is not None and process.poll() is None:
                stop_worker(process)
    # Resumed within the bound plus a sweep of the later of the kill and a
    # worker being free (with a margin for a 2-core machine), not after the
    # broker's visibility timeout.
    waited = resumed_at - max(killed_at + STALE_SECONDS, heir_ready)
    print(f"resumed {resumed_at - killed_at:.1f} s after the kill, {waited:.1f} s after both")
    assert waited < SWEEP_SECONDS + 5
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    version.refresh_from_db()
    assert version.records == records
    assert sum(version.counts["splits"].values()) == records
    with versions.open_version_file(version, "a.jsonl") as fh:
        assert sum(1 for _ in fh) == version.counts["splits"]["a"]
    assert work_folders(job_id) == []
