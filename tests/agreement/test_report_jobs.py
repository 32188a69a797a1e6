"""Reports run as jobs with a real Celery worker: on demand (ten requests
at once run one job), debounced after submissions (a burst starts one
report), and safely when a worker is killed mid-report (the previous
report stays; the redelivered job completes) — SECURITY.md F1, F2, F4, F6."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.db import connection

from accord.celery import app
from agreement import services as report_jobs
from agreement.models import AgreementReport
from agreement.reports import ReportParams
from agreement.tasks import agreement_report
from bench.agreement_data import fill
from projects import services
from projects.jobs import job_create, run_job
from projects.models import Job
from tests.conftest import start_worker, stop_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = ["pos", "neg", "neu"]


@pytest.fixture
def team(project, make_user):
    people = [make_user(f"bulk{i}") for i in range(4)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    return [p.pk for p in people]


def test_ten_requests_at_once_run_one_job(
    celery_worker, project, lead, team, api_for, wait_for_job
):
    fill(project, team, 300, LABELS)
    client = api_for(lead)
    jobs: list[int] = []
    barrier = threading.Barrier(10)

    def ask():
        barrier.wait()
        try:
            jobs.append(
                client.post(f"/api/v1/projects/{project.pk}/agreement/").json()["job"]["id"]
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(jobs)) == 1
    job = wait_for_job(jobs[0])
    assert job.status == "succeeded", job.error
    body = client.get(f"/api/v1/projects/{project.pk}/agreement/").json()
    assert body["report"]["annotations"] == 300 * 2 - 300 // 100 * 5
    assert body["report"]["result"]["headline"]["n"] > 0
    assert Job.objects.filter(project=project, kind="agreement").count() == 1


def test_a_burst_of_submissions_starts_one_report(celery_worker, project, settings, annotate, team):
    # A window longer than the burst takes on a loaded machine: a burst that
    # outlasts its window rightly starts a second report.
    settings.ACCORD_AGREEMENT_DEBOUNCE = 10
    from django.core.cache import cache

    cache.delete(f"agreement-soon:{project.pk}")
    from django.contrib.auth import get_user_model

    a, b = get_user_model().objects.filter(pk__in=team[:2])
    for n in range(40):
        annotate(project, (a, "pos"), (b, "pos" if n % 3 else "neg"), text=f"burst {n}")
    for _ in range(1000):
        report_jobs.report_soon(project.pk)  # more of the same burst
    report = wait_until(
        lambda: AgreementReport.objects.filter(project=project).first(), 60, "the debounced report"
    )
    time.sleep(3)  # a second report, if one were coming, would have started by now
    assert Job.objects.filter(project=project, kind="agreement").count() == 1
    assert AgreementReport.objects.filter(project=project).count() == 1
    assert report.annotations == 80


def test_a_worker_killed_mid_report_leaves_the_previous_one(celery_worker, project, lead, team):
    queue = "agreement-kill-test"
    fill(project, team, 100, LABELS)
    first = job_create(
        project=project, kind="agreement", user=lead, params=ReportParams(n_boot=50).as_dict()
    )
    run_job(first.pk, report_jobs.report_run)
    previous = report_jobs.latest_report(project)
    assert previous is not None and previous.annotations == 195

    fill(project, team, 40_000, LABELS, seed=2)
    job = job_create(
        project=project, kind="agreement", user=lead, params=ReportParams(n_boot=4000).as_dict()
    )
    doomed = start_worker("doomed-report", queue=queue, ACCORD_BROKER_VISIBILITY_TIMEOUT="3")
    try:
        agreement_report.apply_async(args=[job.pk], queue=queue)
        wait_until(lambda: Job.objects.get(pk=job.pk).done > 0, 60, "progress")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
    finally:
        if doomed.poll() is None:
            doomed.kill()
    assert Job.objects.get(pk=job.pk).status == "running"
    assert report_jobs.latest_report(project).pk == previous.pk

    time.sleep(3.5)  # let the unacknowledged message age past the visibility timeout
    heir = start_worker("heir-report", queue=queue, ACCORD_BROKER_VISIBILITY_TIMEOUT="3")
    try:
        done = wait_until(
            lambda: (j := Job.objects.get(pk=job.pk)).is_finished and j,
            180,
            "the redelivered report",
        )
    finally:
        stop_worker(heir)
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    latest = report_jobs.latest_report(project)
    assert latest.pk != previous.pk and latest.job_id == job.pk
    assert latest.annotations == 195 + 40_000 * 2 - 40_000 // 100 * 5
    assert AgreementReport.objects.filter(project=project).count() == 2
    app.control.purge()
