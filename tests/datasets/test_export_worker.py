"""Exports with a real Celery worker: ten identical requests at once run one
job (SECURITY.md E9), and a worker killed mid-export leaves the version
unfinished while the redelivered job completes it (F2, F4, F6)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.db import connection

from accord.celery import app
from annotation.models import Annotation, Assignment
from bench.agreement_data import fill
from exports import start, versions
from exports.models import DatasetVersion
from items.models import Item
from projects import services
from projects.models import Job
from review.models import GoldRecord
from tests.conftest import start_worker, stop_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = ["pos", "neg", "neu"]
QUEUE = "export-kill-test"

# Consensus gold for every item with two annotations that has none yet: the
# first annotation's value.
CONSENSUS_SQL = f"""
INSERT INTO {GoldRecord._meta.db_table} (project_id, item_id, revision, value, excluded, source,
    annotation_ids, reviewer_id, reason, reason_code, config_version, guideline_version,
    min_guideline_version, dispute, decided_at)
SELECT n.project_id, n.item_id, 1, n.value, false, 'consensus', '[]'::jsonb, NULL, '', '',
    1, 1, 1, '', now()
FROM {Annotation._meta.db_table} n JOIN {Item._meta.db_table} i ON i.id = n.item_id
JOIN {Assignment._meta.db_table} a ON a.id = n.assignment_id
WHERE n.project_id = %s AND a.slot = 1 AND i.free_slots = 0
    AND NOT EXISTS (SELECT 1 FROM {GoldRecord._meta.db_table} x WHERE x.item_id = n.item_id)
"""  # noqa: S608 - our tables


@pytest.fixture(autouse=True)
def _media(settings):
    # The worker process writes into ACCORD_MEDIA_ROOT; read from the same.
    assert os.environ.get("ACCORD_MEDIA_ROOT"), "run with ACCORD_MEDIA_ROOT set"


@pytest.fixture
def team(project, make_user):
    people = [make_user(f"bulk{i}") for i in range(4)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    return [p.pk for p in people]


def bulk_project(project, team, n: int) -> int:
    fill(project, team, n, LABELS)
    with connection.cursor() as cursor:
        cursor.execute(CONSENSUS_SQL, [project.pk])
        cursor.execute("ANALYZE")
    return GoldRecord.objects.filter(project=project).count()


def test_ten_identical_requests_run_one_job(
    celery_worker, project, lead, team, api_for, wait_for_job
):
    records = bulk_project(project, team, 300)
    client = api_for(lead)
    answers: list = []
    barrier = threading.Barrier(10)
    body = {"format": "jsonl", "splits": {"train": 0.8, "validation": 0.1, "test": 0.1}}

    def ask():
        barrier.wait()
        try:
            answers.append(
                client.post(f"/api/v1/projects/{project.pk}/exports/", body, format="json")
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status_code for a in answers} <= {200, 202}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len({a.json()["job"]["id"] for a in answers}) == 1
    job = wait_for_job(answers[0].json()["job"]["id"])
    assert job.status == "succeeded", job.error
    assert DatasetVersion.objects.filter(project=project).count() == 1
    assert Job.objects.filter(project=project, kind="export").count() == 1
    version = client.get(f"/api/v1/exports/{answers[0].json()['id']}/").json()
    assert version["status"] == "succeeded" and version["records"] == records


def _route(app, routes) -> None:
    """Set Celery's task routes; the router caches the table it read."""
    app.conf.task_routes = routes
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router()


def test_killed_worker_then_redelivery_completes_the_version(celery_worker, project, lead, team):
    # Enough records that the export is still streaming when its first
    # progress report (half a second in) reaches us: seconds on a 2-core
    # machine, and every record costs the suite time twice.
    records = bulk_project(project, team, 50_000)
    app.control.purge()
    # The job goes to a queue of its own (Celery routing, as a deployment
    # would configure it), so the suite's shared worker never takes it: only
    # the doomed worker, then its heir.
    first = start_worker("doomed-export", queue=QUEUE, ACCORD_BROKER_VISIBILITY_TIMEOUT="3")
    try:
        routes = app.conf.task_routes
        _route(app, {"exports.tasks.export_dataset": {"queue": QUEUE}})
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
        finally:
            _route(app, routes)
        job_id = version.job_id
        wait_until(lambda: Job.objects.get(pk=job_id).done > 0, 120, "export progress")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    killed = Job.objects.get(pk=job_id)
    version.refresh_from_db()
    assert killed.status == "running"
    assert version.succeeded_at is None and version.sha256 == "" and version.files == []

    time.sleep(3.5)  # let the killed worker's message age past the visibility timeout
    second = start_worker("heir-export", queue=QUEUE, ACCORD_BROKER_VISIBILITY_TIMEOUT="3")
    try:
        done = wait_until(
            lambda: (j := Job.objects.get(pk=job_id)).is_finished and j,
            300,
            "the redelivered export to finish",
        )
    finally:
        stop_worker(second)
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    version.refresh_from_db()
    assert version.records == records
    assert sum(version.counts["splits"].values()) == records
    with versions.open_version_file(version, "a.jsonl") as fh:
        lines_a = sum(1 for _ in fh)
    assert lines_a == version.counts["splits"]["a"]
