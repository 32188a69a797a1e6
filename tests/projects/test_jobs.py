"""The job row is the truth: claims, poison messages, cancel, stale jobs
(SECURITY.md F3, F5, F6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from projects.jobs import JobFailed, job_create, jobs_fail_stale, run_job
from projects.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_job_that_killed_its_worker_three_times_is_failed_not_retried(project, lead):
    job = job_create(project=project, kind="test", user=lead)
    Job.objects.filter(pk=job.pk).update(status="running", attempts=3)
    ran = []
    run_job(job.pk, lambda ctx: ran.append(ctx))
    job.refresh_from_db()
    assert ran == []
    assert (job.status, job.error) == (
        "failed",
        "Gave up after 3 attempts (the worker stopped each time).",
    )


def test_work_that_fails_keeps_its_result_and_reason(project, lead):
    job = job_create(project=project, kind="test", user=lead)

    def work(ctx):
        raise JobFailed("2 lines are bad", {"bad": 2})

    run_job(job.pk, work)
    job.refresh_from_db()
    assert (job.status, job.error, job.result, job.attempts) == (
        "failed",
        "2 lines are bad",
        {"bad": 2},
        1,
    )


def test_an_unexpected_error_is_failed_with_a_plain_message(project, lead):
    job = job_create(project=project, kind="test", user=lead)
    run_job(job.pk, lambda ctx: 1 / 0)
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == "Internal error: ZeroDivisionError. The problem was logged."


def test_a_finished_job_is_not_run_again(project, lead):
    job = job_create(project=project, kind="test", user=lead)
    run_job(job.pk, lambda ctx: ctx.succeed({"n": 1}))
    run_job(job.pk, lambda ctx: ctx.succeed({"n": 2}))
    job.refresh_from_db()
    assert (job.status, job.result, job.attempts) == ("succeeded", {"n": 1}, 1)


def test_cancel_through_the_api(api_for, project, lead, annotator):
    queued = job_create(project=project, kind="test", user=lead)
    assert api_for(annotator).post(f"/api/v1/jobs/{queued.pk}/cancel/").status_code == 404
    answer = api_for(lead).post(f"/api/v1/jobs/{queued.pk}/cancel/")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    again = api_for(lead).post(f"/api/v1/jobs/{queued.pk}/cancel/")
    assert again.status_code == 409


def test_a_running_job_stops_at_its_next_report_when_cancelled(project, lead):
    job = job_create(project=project, kind="test", user=lead)

    def work(ctx):
        Job.objects.filter(pk=ctx.job.pk).update(cancel_requested=True)
        ctx.progress(1, 10, force=True)
        ctx.succeed({"should": "not happen"})

    run_job(job.pk, work)
    job.refresh_from_db()
    assert (job.status, job.result) == ("cancelled", {})


def test_silent_and_never_started_jobs_are_failed(project, lead):
    silent = job_create(project=project, kind="test", user=lead)
    lost = job_create(project=project, kind="test", user=lead)
    fresh = job_create(project=project, kind="test", user=lead)
    long_ago = timezone.now() - timedelta(days=2)
    Job.objects.filter(pk=silent.pk).update(status="running", heartbeat_at=long_ago)
    Job.objects.filter(pk=lost.pk).update(created_at=long_ago)
    assert jobs_fail_stale() == 2
    states = dict(Job.objects.values_list("pk", "status"))
    assert (states[silent.pk], states[lost.pk], states[fresh.pk]) == ("failed", "failed", "queued")


def test_every_job_kind_is_run_by_a_registered_task():
    """Services start jobs by kind; each kind's task must be one the worker
    knows, under the name kept on the job row."""
    from accord.celery import app
    from projects.jobs import job_kinds

    kinds = job_kinds()
    # The wire names predate the restructure (issue 19) and stay: messages in
    # the broker and job rows name them.
    assert kinds == {
        "import": "annotation.tasks.import_items",
        "priority": "annotation.tasks.set_priorities",
        "requeue": "annotation.tasks.requeue",
        "agreement": "review.tasks.agreement_report",
        "export": "exports.tasks.export_dataset",
    }
    app.loader.import_default_modules()
    for kind, name in kinds.items():
        assert name in app.tasks, kind
