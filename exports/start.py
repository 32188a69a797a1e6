"""Starting an export, and its dry run.

``export_start`` (the request) validates the parameters (400 with the field
and the reason, nothing stored), then — with the project's row locked, so
identical requests queue behind each other — finds the version with the
same request key (the parameters plus a fingerprint of the project's gold)
or creates it with its job, queued on commit. Ten identical requests at
once give one version and one job; a unique constraint on (project,
request_key) backs the lock (SECURITY.md E9, F1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accord.errors import InvalidInput
from accord.sql import dialect
from projects.jobs import job_create, job_enqueue
from projects.models import JobStatus, Project

from . import formats
from .models import DatasetVersion
from .params import export_params_parse, gold_state, request_key
from .query import records_selection
from .splits import SplitPreview, splits_groups, splits_missing, splits_preview, splits_refusals
from .tasks import KIND

# The job kind of an export (projects.jobs; exports/apps.py registers it).


@dataclass(frozen=True)
class Started:
    version: DatasetVersion
    created: bool


@dataclass(frozen=True)
class Preview:
    """What an export would hold, per split, and why it would be refused
    (no errors: it would not be)."""

    params: dict
    sizes: SplitPreview
    errors: list[dict]

    def payload(self) -> dict:
        return {"params": self.params, **self.sizes.payload(), "errors": self.errors}


def _preview(project: Project, params: dict, *, groups: bool = True) -> Preview:
    """The sizes and refusals of ``params``; without ``groups`` the groups
    are counted only for a refusal's message."""
    fmt = formats.get(params["format"])
    selected = records_selection(project, params, raw=fmt.raw)
    sizes = splits_preview(
        project=project, spec=params["splits"], group_by=params["group_by"],
        selection=selected.sql, selection_params=selected.params,
        selected_ids=selected.ids, bucket_sql=dialect().gold_bucket, groups=groups,
    )  # fmt: skip
    records = {name: size.records for name, size in sizes.splits.items()}
    spec = params["splits"] or {}
    empty = sizes.new and any(share > 0 and not records[n] for n, share in spec.items())
    errors = []
    if empty:
        errors = splits_refusals(
            project=project, spec=params["splits"], group_by=params["group_by"],
            records=records, new=sizes.new,
            groups=sizes.groups if groups else splits_groups(
                group_by=params["group_by"], selection=selected.sql,
                selection_params=selected.params,
            ),
        )  # fmt: skip
    return Preview(params=params, sizes=sizes, errors=errors)


def export_preview(*, project: Project, raw: Any) -> Preview:
    """The dry run of an export request: the records and groups each split
    would hold — the assigned items by their split, the others by the split
    the export would give them (splits.splits_preview: the assignment's own
    statement, read instead of written) — and the refusals the request
    would meet. Assigns and stores nothing. Bad parameters raise
    InvalidInput, as for ``export_start``."""
    params = export_params_parse(project=project, raw=raw)
    with transaction.atomic():
        return _preview(project, params)


def _refuse_empty_splits(project: Project, params: dict) -> None:
    """400 for a request whose split assignment would leave a named split
    empty for good (splits.splits_refusals). The sizes are computed only
    when the export has items without a split: once every selected item
    has one, nothing is assigned and nothing can be refused."""
    if not params["splits"]:
        return
    fmt = formats.get(params["format"])
    selected = records_selection(project, params, raw=fmt.raw)
    if not splits_missing(selected.ids, selected.params)[1]:
        return
    preview = _preview(project, params, groups=False)
    if preview.errors:
        raise InvalidInput(preview.errors)


def export_start(*, project: Project, user, raw: Any) -> Started:
    """The dataset version for this request: the existing one when the same
    parameters were asked of the same gold (a failed or cancelled one is
    retried with a new job), else a new one with its job queued on commit.
    Bad parameters raise InvalidInput and store nothing."""

    with transaction.atomic():
        # One request at a time per project: the second of two identical
        # requests waits here, then finds the first one's version.
        locked = Project.objects.select_for_update().get(pk=project.pk)
        params = export_params_parse(project=locked, raw=raw)
        fmt = formats.get(params["format"])
        state = gold_state(locked, raw=fmt.raw)
        key = request_key(params, state)
        version = (
            DatasetVersion.objects.select_related("job")
            .filter(project=locked, request_key=key)
            .first()
        )
        if version is not None:
            if version.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                version.job = job_create(
                    project=locked, kind=KIND, user=user, params={"version": version.pk}
                )
                version.save(update_fields=["job"])
                job_enqueue(version.job)
            return Started(version, created=False)
        _refuse_empty_splits(locked, params)
        if params["splits"] and not locked.split_names:
            # The first split export fixes the project's split names.
            Project.objects.filter(pk=locked.pk).update(split_names=sorted(params["splits"]))
        version = DatasetVersion.objects.create(
            project=locked,
            format=fmt.key,
            params=params,
            request_key=key,
            gold_state=state,
            created_by=user,
        )
        version.job = job_create(
            project=locked, kind=KIND, user=user, params={"version": version.pk}
        )
        version.save(update_fields=["job"])
        job_enqueue(version.job)
    return Started(version, created=True)
