"""Background jobs: the row is the truth, the Celery task only carries its id.

Life of a job:

* ``job_create`` writes the row (queued) in the request's transaction and
  ``job_enqueue`` sends the task only when that transaction commits
  (SECURITY.md F1).
* ``run_job`` claims the row with a conditional update, holds a PostgreSQL
  advisory lock on the job's id on a side connection for as long as it runs —
  a duplicate delivery (Redis visibility timeout, SECURITY.md F4) finds the
  lock taken and does nothing, while a killed worker's lock dies with its
  connection so the redelivered message can take over (F2) — and reports
  progress on that side connection, so a progress bar moves while the work's
  own transaction is still open.
* The work function finishes the job inside its final transaction
  (``JobContext.succeed``), so "succeeded" and the data it describes commit
  together: a worker killed before that leaves the job running and nothing
  half-written marked done (F6); the retry starts over.
* More than ``MAX_ATTEMPTS`` claims make a job failed (a poison message, F3).
* While the work runs, a thread refreshes ``heartbeat_at`` on the side
  connection every sixth of ``ACCORD_JOB_STALE_SECONDS``, whether or not the
  work reports progress. ``jobs_recover`` (beat, every quarter of that bound)
  requeues a running job whose heartbeat is older than the bound *and* whose
  advisory lock it can take: the lock, not the clock, decides that the
  worker is dead, so a live job stuck in one long statement is never
  requeued. It also sends the message of a queued job that never reached the
  broker (Redis was down when its transaction committed). So a killed
  worker's job runs again within the bound plus one sweep of another worker
  being free, whatever the broker's visibility timeout; the killed worker's
  own message, redelivered hours later, finds the job finished.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F
from django.utils import timezone

from accord.celery import app
from accord.errors import Conflict, InvalidInput
from accord.sql import LockNamespace, dialect

from .models import Job, JobStatus, Project

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
PROGRESS_EVERY_SECONDS = 0.5
LOCK_NAMESPACE = int(LockNamespace.JOBS)


class JobCancelled(Exception):
    """Raised inside the work when a cancel was requested."""


class JobFailed(Exception):
    """The work failed in a way the user should read; ``result`` is kept."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result or {}


def job_create(
    *,
    project: Project | None,
    kind: str,
    user,
    params: dict | None = None,
    total: int | None = None,
) -> Job:
    return Job.objects.create(
        project=project, kind=kind, created_by=user, params=params or {}, total=total
    )


# Each kind of job and the Celery task that runs it, registered by the app
# that owns the kind (its AppConfig.ready, with the task object, so a typo
# fails at start-up, not after a commit). Services start a job by its kind
# and never import the module that runs it.
_kind_tasks: dict[str, Any] = {}


def job_kind_register(kind: str, task: Any) -> None:
    _kind_tasks[kind] = task


def job_kinds() -> dict[str, str]:
    """Every registered kind and its task's name."""
    return {kind: task.name for kind, task in _kind_tasks.items()}


def job_enqueue(job: Job) -> None:
    """Send the task of ``job.kind`` with the job's id once the current
    transaction commits. The task's name is kept on the row, so the recovery
    sweep can send it again."""
    name = _kind_tasks[job.kind].name
    job.task = name
    Job.objects.filter(pk=job.pk).update(task=name)
    transaction.on_commit(lambda: _send(job.pk, name))


def _send(job_id: int, task_name: str) -> bool:
    """Hand the job's message to the broker; False if the broker is down.

    Runs after the commit, so the request that made the job answers with it
    whatever happens here: a message that did not get through leaves the job
    queued with no ``sent_at``, and ``jobs_recover`` sends it later."""
    try:
        app.send_task(task_name, args=[job_id])
    except Exception as exc:  # noqa: BLE001 - any broker failure; the sweep retries
        log.warning("job %s: its message was not sent (%s); it will be sent later", job_id, exc)
        return False
    Job.objects.filter(pk=job_id).update(sent_at=timezone.now())
    return True


# What a dead attempt of a job may have left outside the database (work
# files), by kind. Called with the job's id while its advisory lock is held,
# so no attempt is running: when the job is requeued, and when it finishes.
_leftover_cleaners: dict[str, Callable[[int], None]] = {}


def job_leftovers_register(kind: str, remove: Callable[[int], None]) -> None:
    _leftover_cleaners[kind] = remove


def _remove_leftovers(kind: str, job_id: int) -> None:
    remove = _leftover_cleaners.get(kind)
    if remove is None:
        return
    try:
        remove(job_id)
    except Exception:  # a folder left behind is no reason to fail the job
        log.exception("job %s: could not remove what its attempts left", job_id)


def job_cancel(*, job: Job) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one
    stops at its next progress report. A finished job is left alone (409)."""
    if job.is_finished:
        raise Conflict(f"The job has already {job.status}.")
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


# --- the side connection ------------------------------------------------------


class SideConnection:
    """A second, autocommit connection to the same PostgreSQL database.

    On SQLite (embedded mode) there is one writer at a time, so progress goes
    through the main connection, and only outside a transaction.
    """

    def __init__(self) -> None:
        main = connections[DEFAULT_DB_ALIAS]
        self.conn: psycopg.Connection | None = None
        # A second connection, hence advisory locks that outlive the work's
        # transaction: PostgreSQL only (SQLite has one writer anyway).
        if dialect(main).is_postgresql:
            params = main.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            self.conn = psycopg.connect(**params, autocommit=True)

    def execute(self, sql: str, params: list[Any]) -> list[tuple]:
        if self.conn is not None:
            with self.conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        main = connections[DEFAULT_DB_ALIAS]
        if main.in_atomic_block:
            return []
        with main.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def try_lock(self, job_id: int) -> bool:
        if self.conn is None:
            return True
        return bool(
            self.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, job_id])[0][0]
        )

    def unlock(self, job_id: int) -> None:
        if self.conn is not None:
            self.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, job_id])

    def close(self) -> None:
        if self.conn is not None:
            # Closing the session releases the advisory lock.
            self.conn.close()
            self.conn = None


@dataclass
class JobContext:
    job: Job
    side: SideConnection
    # Called with (done, total) on every report: the import command's
    # progress bar listens here.
    listener: Callable[[int, int | None], None] | None = None
    _last_report: float = 0.0

    @property
    def params(self) -> dict:
        return self.job.params

    def progress(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        """Report progress (throttled) and stop if a cancel was requested."""
        if self.listener is not None:
            self.listener(done, total)
        now = time.monotonic()
        if not force and now - self._last_report < PROGRESS_EVERY_SECONDS:
            return
        self._last_report = now
        table = Job._meta.db_table
        if total is None:
            sql = f"UPDATE {table} SET done = %s, heartbeat_at = %s WHERE id = %s RETURNING cancel_requested"  # noqa: S608
            params = [done, timezone.now(), self.job.pk]
        else:
            sql = f"UPDATE {table} SET done = %s, total = %s, heartbeat_at = %s WHERE id = %s RETURNING cancel_requested"  # noqa: S608
            params = [done, total, timezone.now(), self.job.pk]
        rows = self.side.execute(sql, params)
        if rows and rows[0][0]:
            raise JobCancelled

    def succeed(self, result: dict, *, done: int | None = None) -> None:
        """Mark the job succeeded. Call as the last write of the work's final
        transaction, so the data and the status commit together."""
        updated = Job.objects.filter(pk=self.job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.SUCCEEDED,
            result=result,
            done=done if done is not None else F("done"),
            finished_at=timezone.now(),
            error="",
        )
        if updated != 1:
            # Someone cancelled or failed the job meanwhile: undo the work.
            raise JobCancelled


def stale_after() -> timedelta:
    """How long a running job may go without a heartbeat before the recovery
    sweep looks at its lock (settings.ACCORD_JOB_STALE_SECONDS)."""
    return timedelta(seconds=settings.ACCORD_JOB_STALE_SECONDS)


class _Heartbeat:
    """Refreshes the job's ``heartbeat_at`` on the side connection while the
    work runs, so a job busy in one long statement (a COPY, an ANALYZE, a
    split assignment) still looks alive. psycopg's connection serialises the
    threads' statements. ``SKIP LOCKED``: the work's final transaction locks
    the job row (``succeed``) and the heartbeat must never wait on it, or the
    work would wait on the heartbeat for the side connection."""

    def __init__(self, side: SideConnection, job_id: int) -> None:
        self.side, self.job_id = side, job_id
        self.every = max(0.2, settings.ACCORD_JOB_STALE_SECONDS / 6)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"job-{job_id}-heartbeat")
        self.thread.daemon = True

    def __enter__(self) -> _Heartbeat:
        if self.side.conn is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join()

    def _run(self) -> None:
        table = Job._meta.db_table
        sql = (
            f"UPDATE {table} SET heartbeat_at = %s WHERE id = (SELECT id FROM {table} "  # noqa: S608
            "WHERE id = %s AND status = 'running' FOR UPDATE SKIP LOCKED)"
        )
        while not self.stopped.wait(self.every):
            try:
                self.side.execute(sql, [timezone.now(), self.job_id])
            except Exception as exc:  # noqa: BLE001 - the work's own reports will fail loudly
                log.warning("job %s: heartbeat failed: %s", self.job_id, exc)
                return


def _claim(job_id: int) -> Job | None:
    """running, one more attempt; None if there is nothing (more) to do."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return None
    if job.cancel_requested:
        _finish(job_id, JobStatus.CANCELLED, error="")
        return None
    if job.attempts >= MAX_ATTEMPTS:
        _finish(
            job_id,
            JobStatus.FAILED,
            error=f"Gave up after {job.attempts} attempts (the worker stopped each time).",
        )
        return None
    now = timezone.now()
    claimed = Job.objects.filter(
        pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).update(status=JobStatus.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now)
    if claimed != 1:
        return None
    job.refresh_from_db()
    return job


def _finish(job_id: int, status: str, *, error: str, result: dict | None = None) -> None:
    values: dict[str, Any] = {
        "status": status,
        "error": error[:5000],
        "finished_at": timezone.now(),
    }
    if result is not None:
        values["result"] = result
    Job.objects.filter(pk=job_id).exclude(status__in=Job.FINISHED).update(**values)


def run_job(
    job_id: int,
    work: Callable[[JobContext], None],
    listener: Callable[[int, int | None], None] | None = None,
) -> None:
    """Claim job ``job_id`` and run ``work`` on it; see the module docstring."""
    side = SideConnection()
    try:
        if not side.try_lock(job_id):
            log.info("job %s is running elsewhere; this delivery does nothing", job_id)
            return
        job = _claim(job_id)
        if job is None:
            kind = Job.objects.filter(pk=job_id).values_list("kind", flat=True).first()
            if kind is not None:
                _remove_leftovers(kind, job_id)
            return
        context = JobContext(job=job, side=side, listener=listener)
        try:
            with _Heartbeat(side, job_id):
                work(context)
        except JobCancelled:
            _finish(job_id, JobStatus.CANCELLED, error="")
        except JobFailed as exc:
            _finish(job_id, JobStatus.FAILED, error=str(exc), result=exc.result)
        except InvalidInput as exc:
            _finish(job_id, JobStatus.FAILED, error=str(exc), result={"errors": exc.errors})
        except Exception as exc:
            log.exception("job %s failed", job_id)
            _finish(
                job_id,
                JobStatus.FAILED,
                error=f"Internal error: {type(exc).__name__}. The problem was logged.",
            )
        _remove_leftovers(job.kind, job_id)
    finally:
        side.close()


def jobs_recover() -> dict[str, int]:
    """The recovery sweep (beat): requeue the running jobs whose worker died,
    and send the queued jobs whose message never reached the broker.

    A running job is dead when its heartbeat is older than ``stale_after()``
    and its advisory lock is free (a live worker holds it for as long as the
    job runs, however slow its reports). Under that lock the job goes back to
    queued, or, after ``MAX_ATTEMPTS`` claims, to failed (F3); the lock is
    let go before the message is sent, so the worker that takes it can lock
    the job. A queued job that was sent is left alone however long it waits:
    its message is in the broker, behind others."""
    cutoff = timezone.now() - stale_after()
    counts = {"requeued": 0, "finished": 0, "sent": 0}
    if dialect(DEFAULT_DB_ALIAS).is_postgresql:
        # On SQLite (embedded mode) there is no lock to tell a dead worker
        # from a slow one; jobs_fail_stale ends those jobs instead.
        stale = list(
            Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:100]
        )
        if stale:
            side = SideConnection()
            try:
                for job_id in stale:
                    outcome = _recover(side, job_id, cutoff)
                    if outcome is not None:
                        counts[outcome] += 1
            finally:
                side.close()
    unsent = (
        Job.objects.filter(status=JobStatus.QUEUED, sent_at__isnull=True, created_at__lt=cutoff)
        .exclude(task="")
        .order_by("pk")
        .values_list("pk", "task")[:100]
    )
    for job_id, task_name in unsent:
        if not _send(job_id, task_name):
            break  # the broker is down: the next sweep tries again
        counts["sent"] += 1
    return counts


def _recover(side: SideConnection, job_id: int, cutoff) -> str | None:
    if not side.try_lock(job_id):
        return None  # its worker is alive and holds the lock
    try:
        job = Job.objects.filter(
            pk=job_id, status=JobStatus.RUNNING, heartbeat_at__lt=cutoff
        ).first()
        if job is None:
            return None  # it finished, or a worker took it over meanwhile
        outcome = _requeue_or_end(job)
    finally:
        side.unlock(job_id)
    log.warning("job %s: its worker stopped; the job is %s", job_id, outcome)
    if outcome == "requeued":
        _send(job_id, job.task)
    return outcome


def _requeue_or_end(job: Job) -> str:
    """A running job whose attempt is known to be dead: back to queued (the
    caller sends its message), or ended when it was cancelled, has had its
    attempts (F3) or has no task to send; what the attempt left is removed."""
    outcome = "finished"
    if job.cancel_requested:
        _finish(job.pk, JobStatus.CANCELLED, error="")
    elif job.attempts >= MAX_ATTEMPTS:
        _finish(
            job.pk,
            JobStatus.FAILED,
            error=f"Gave up after {job.attempts} attempts (the worker stopped each time).",
        )
    elif not job.task:
        _finish(job.pk, JobStatus.FAILED, error="The process running the job stopped.")
    else:
        Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.QUEUED, sent_at=None
        )
        outcome = "requeued"
    _remove_leftovers(job.kind, job.pk)
    return outcome


def jobs_requeue_cut_off() -> dict[str, int]:
    """The embedded mode's worker is starting: it is the only worker, so a
    job still marked running was cut off when Accord stopped or was killed.
    Each is sent again (or ended, as jobs_recover would). Its filesystem
    broker has no visibility timeout to redeliver the message, and on SQLite
    no advisory lock tells jobs_recover that the worker died."""
    counts = {"requeued": 0, "finished": 0}
    for job in Job.objects.filter(status=JobStatus.RUNNING).order_by("pk"):
        outcome = _requeue_or_end(job)
        log.warning("job %s: cut off when Accord stopped; the job is %s", job.pk, outcome)
        counts[outcome] += 1
        if outcome == "requeued":
            _send(job.pk, job.task)
    return counts


def jobs_fail_stale(
    *, silent_for: timedelta = timedelta(hours=6), queued_for: timedelta = timedelta(days=1)
) -> int:
    """Fail jobs whose worker stopped reporting, or that no worker ever took
    (a lost message, an unregistered task): a job never spins forever
    (SECURITY.md F5)."""
    now = timezone.now()
    silent = Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - silent_for).update(
        status=JobStatus.FAILED,
        error="The worker stopped reporting; the job was abandoned.",
        finished_at=now,
    )
    never = Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=now - queued_for).update(
        status=JobStatus.FAILED, error="No worker took the job.", finished_at=now
    )
    return silent + never
