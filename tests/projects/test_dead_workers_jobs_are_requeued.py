"""The recovery sweep: a running job whose worker died goes back to the
queue and its message is sent again; a live job is never taken for dead,
however long it goes without reporting; a message the broker never got is
sent later (SECURITY.md F2, F3, F4, F5). The broker is a private Redis, so the
messages can be counted."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.utils import timezone

from projects.jobs import job_create, job_enqueue, jobs_recover, run_job
from projects.models import Job
from projects.tasks import recover_jobs
from tests.conftest import start_redis, stop_redis, use_broker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

TASK = "annotation.tasks.import_items"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A private Redis as this process's broker: returns a client on it."""
    process, port = start_redis(tmp_path_factory.mktemp("redis"))
    previous = use_broker(f"redis://127.0.0.1:{port}/0")
    yield redis.Redis(port=port)
    use_broker(previous)
    stop_redis(process)


@pytest.fixture(autouse=True)
def _empty_queue(broker):
    # The queue only: the producer declared its binding once and for all.
    broker.delete("celery")


def dead_job(project, lead, **fields) -> Job:
    """A job its worker left running (killed: no lock, no heartbeat since)."""
    job = job_create(project=project, kind="import", user=lead)
    values = {
        "status": "running",
        "attempts": 1,
        "task": TASK,
        "heartbeat_at": timezone.now() - timedelta(seconds=120),
        **fields,
    }
    Job.objects.filter(pk=job.pk).update(**values)
    return job


def test_a_dead_workers_job_is_queued_and_sent_again(broker, project, lead):
    job = dead_job(project, lead)
    assert jobs_recover() == {"requeued": 1, "finished": 0, "sent": 0}
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.sent_at is not None
    assert broker.llen("celery") == 1
    # Nothing more to do on the next sweep.
    assert jobs_recover() == {"requeued": 0, "finished": 0, "sent": 0}
    assert broker.llen("celery") == 1


def test_a_job_whose_heartbeat_is_recent_is_left_alone(broker, project, lead):
    job = dead_job(project, lead, heartbeat_at=timezone.now() - timedelta(seconds=10))
    assert jobs_recover()["requeued"] == 0
    assert Job.objects.get(pk=job.pk).status == "running"


def test_a_live_job_silent_for_long_is_never_requeued(settings, broker, project, lead):
    """Its worker holds the job's lock: that, not the heartbeat, decides."""
    job = job_create(project=project, kind="import", user=lead)
    Job.objects.filter(pk=job.pk).update(task=TASK)
    inside, release = threading.Event(), threading.Event()

    def work(ctx):
        inside.set()
        assert release.wait(30)
        ctx.succeed({"ok": True})

    def deliver():
        try:
            run_job(job.pk, work)
        finally:
            connection.close()

    thread = threading.Thread(target=deliver)
    thread.start()
    try:
        assert inside.wait(30)
        # As if it had been stuck in one statement far longer than the bound.
        Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
        assert jobs_recover()["requeued"] == 0
        assert Job.objects.get(pk=job.pk).status == "running"
        assert broker.llen("celery") == 0
    finally:
        release.set()
        thread.join()
    done = Job.objects.get(pk=job.pk)
    assert (done.status, done.attempts) == ("succeeded", 1)


def test_the_heartbeat_moves_while_the_work_reports_nothing(settings, project, lead):
    settings.ACCORD_JOB_STALE_SECONDS = 1.2  # a heartbeat every 0.2 s
    job = job_create(project=project, kind="import", user=lead)
    release = threading.Event()
    thread = threading.Thread(
        target=lambda: (run_job(job.pk, lambda ctx: release.wait(30)), connection.close())
    )
    thread.start()
    try:
        started = wait_until(lambda: Job.objects.get(pk=job.pk).started_at, 30, "the job to start")
        wait_until(
            lambda: Job.objects.get(pk=job.pk).heartbeat_at > started + timedelta(seconds=0.5),
            10,
            "a heartbeat while the work is silent",
        )
    finally:
        release.set()
        thread.join()


def test_a_job_killed_on_its_last_attempt_is_failed_not_requeued(broker, project, lead):
    job = dead_job(project, lead, attempts=3)
    assert jobs_recover()["finished"] == 1
    job.refresh_from_db()
    assert (job.status, job.error) == (
        "failed",
        "Gave up after 3 attempts (the worker stopped each time).",
    )
    assert broker.llen("celery") == 0


def test_a_job_run_by_a_process_that_died_is_failed(broker, project, lead):
    """The import command runs its job itself: no task to send again."""
    job = dead_job(project, lead, task="")
    assert jobs_recover()["finished"] == 1
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "The process running the job stopped.")


def test_a_cancelled_dead_job_ends_cancelled(broker, project, lead):
    job = dead_job(project, lead, cancel_requested=True)
    assert jobs_recover()["finished"] == 1
    assert Job.objects.get(pk=job.pk).status == "cancelled"


def test_a_message_the_broker_never_got_is_sent_by_the_sweep(broker, project, lead):
    """Redis was down when the job's transaction committed."""
    from django.db import transaction

    broker.connection_pool.disconnect()
    port = broker.connection_pool.connection_kwargs["port"]
    previous = use_broker(f"redis://127.0.0.1:{port + 1}/0")  # nobody listens there
    try:
        with transaction.atomic():
            job = job_create(project=project, kind="import", user=lead)
            job_enqueue(job)  # the send after the commit fails, quietly
    finally:
        use_broker(previous)
    job.refresh_from_db()
    assert (job.status, job.task, job.sent_at) == ("queued", TASK, None)
    assert broker.llen("celery") == 0
    assert jobs_recover()["sent"] == 0  # too young: its own send may still be on the way
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert recover_jobs() == {"requeued": 0, "finished": 0, "sent": 1}
    assert broker.llen("celery") == 1
    assert Job.objects.get(pk=job.pk).sent_at is not None
    # Sent once: a queued job waiting behind others is not sent again.
    assert jobs_recover()["sent"] == 0
