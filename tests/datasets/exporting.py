"""Running an export in the test's own process (no worker)."""

from __future__ import annotations

from exports import job, start
from exports.models import DatasetVersion
from projects.jobs import run_job


def export_now(project, user, **params) -> DatasetVersion:
    """Start an export and run its job here."""
    started = start.export_start(project=project, user=user, raw={"format": "jsonl", **params})
    version = started.version
    if version.succeeded_at is None:
        run_job(version.job_id, job.export_run)
    return DatasetVersion.objects.select_related("job").get(pk=version.pk)
