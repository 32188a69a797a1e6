"""Running agreement reports: on demand (a job the API returns), after
submissions (debounced: a burst of submissions starts one report), and on a
schedule (projects whose data changed since their last report).

A report runs as a job (projects.jobs): the report row is written in the
job's final transaction, together with "succeeded", so a worker killed
mid-report leaves the previous report in place and the redelivered task
computes it again (SECURITY.md F1, F2, F6).
"""

from __future__ import annotations

import contextlib
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accord.celery import app
from projects.counters import counters_for
from projects.jobs import JobContext, job_create, job_enqueue
from projects.models import Job, JobStatus, Project

from .models import AgreementReport
from .reliability import read_reliability
from .reports import ReportParams, compute_report

log = logging.getLogger(__name__)

KIND = "agreement"
STEPS = 5


def _debounce_seconds() -> int:
    return int(getattr(settings, "ACCORD_AGREEMENT_DEBOUNCE", 60))


def fingerprint(project: Project) -> str:
    """What the report's data looks like, from counters: annotations, gold
    by source, excluded items. A report is stale when this changed."""
    counters = counters_for([project.pk])[project.pk]
    parts = [
        f"{name}={counters[name]}"
        for name in sorted(counters)
        if name == "annotations:total" or name.startswith("gold:") or name == "items:excluded"
    ]
    return ";".join(parts)[:200]


def latest_report(project: Project) -> AgreementReport | None:
    return AgreementReport.objects.filter(project=project).order_by("-created_at", "-pk").first()


def running_report(project: Project) -> Job | None:
    return (
        Job.objects.filter(
            project=project, kind=KIND, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        )
        .order_by("-created_at")
        .first()
    )


@transaction.atomic
def report_start(*, project: Project, user, params: ReportParams | None = None) -> Job:
    """Queue a report, or return the one already queued or running (ten
    requests at once start one computation)."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    job = running_report(project)
    if job is not None:
        return job

    job = job_create(
        project=project, kind=KIND, user=user, params=(params or ReportParams()).as_dict()
    )
    job_enqueue(job)
    return job


# Sent by name: the task module imports this one to run the reports. The
# name is the one it had in review/tasks.py before the restructure (issue
# 19), so messages already in the broker still find it.
DEBOUNCED_TASK = "review.tasks.agreement_debounced"


def report_soon(project_id: int) -> None:
    """Ask for a report after the current burst of changes: the first call
    in a debounce window schedules one run at the window's end, the others
    do nothing. Call after the change commits.

    Never raises: the change is committed and its request must say so.
    When Redis (the debounce key, the broker) does not answer, the report is
    not scheduled; a later change schedules it, or the hourly refresh
    (``reports_refresh``) finds the project's data newer than its report."""
    window = _debounce_seconds()
    key = f"agreement-soon:{project_id}"
    try:
        if not cache.add(key, 1, timeout=window):
            return
    except Exception as exc:  # noqa: BLE001 - whatever the cache raises
        log.warning("project %s: agreement report not scheduled: %s", project_id, exc)
        return
    try:
        app.send_task(DEBOUNCED_TASK, args=[project_id], countdown=window)
    except Exception as exc:  # noqa: BLE001 - whatever the broker raises
        log.warning("project %s: agreement report not scheduled: %s", project_id, exc)
        with contextlib.suppress(Exception):
            # So that the next change tries again rather than the window's end.
            cache.delete(key)


def report_soon_on_commit(project_id: int) -> None:
    transaction.on_commit(lambda: report_soon(project_id))


def report_run(ctx: JobContext) -> None:
    """The job's work: read, compute, store (with "succeeded") at once."""
    started = time.monotonic()
    project = Project.objects.get(pk=ctx.job.project_id)
    params = ReportParams(**ctx.params) if ctx.params else ReportParams()
    counters = counters_for([project.pk])[project.pk]
    total = counters.get("annotations:total", 0) + STEPS
    stamp = fingerprint(project)
    data = read_reliability(project, progress=lambda done: ctx.progress(done, total))
    steps = iter(range(1, STEPS + 1))
    result = compute_report(
        project, data, params, progress=lambda _name: ctx.progress(data.size + next(steps), total)
    )
    _store(ctx, project, data.size, result, params, stamp, started)


def _store(ctx: JobContext, project, annotations: int, result, params, stamp, started) -> None:
    headline = result.get("headline", {})
    with transaction.atomic():
        report = AgreementReport.objects.create(
            project=project,
            job=ctx.job,
            created_at=timezone.now(),
            coefficient=result["coefficient"],
            value=headline.get("value"),
            annotations=annotations,
            items=result["n"]["items"],
            duration_ms=int((time.monotonic() - started) * 1000),
            fingerprint=stamp,
            params=params.as_dict(),
            result=result,
        )
        ctx.succeed({"report": report.pk, "value": report.value}, done=annotations + STEPS)


def reports_refresh() -> int:
    """The schedule: a report for every active project whose data changed
    since its last report. Returns how many were queued."""
    queued = 0
    for project in Project.objects.filter(archived_at__isnull=True).order_by("pk"):
        stamp = fingerprint(project)
        last = latest_report(project)
        if "annotations:total" not in stamp or (last is not None and last.fingerprint == stamp):
            continue
        report_start(project=project, user=None)
        queued += 1
    return queued
