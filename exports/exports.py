"""Exports: a request becomes an immutable dataset version written by a job.

* ``export_start`` (the request) validates the parameters (400 with the
  field and the reason, nothing stored), then — with the project's row
  locked, so identical requests queue behind each other — finds the version
  with the same request key (the parameters plus a fingerprint of the
  project's gold) or creates it with its job, queued on commit. Ten identical
  requests at once give one version and one job; a unique constraint on
  (project, request_key) backs the lock (SECURITY.md E9, F1).
* ``export_run`` (the job) reads the gold at a snapshot (one REPEATABLE READ
  transaction; on SQLite, the embedded mode, one read transaction in WAL
  mode), assigns missing splits in the same snapshot, streams the records in
  item order from a server-side cursor (SQLite: in chunks) — rows read in
  chunks, no ORM instance per row; when the provenance is needed, the
  submitted annotations come from a second cursor in the same order and are
  merged in — through the format's writers
  into local files hashed as they are written, with a manifest line per
  record. It then stores the files, reconciles them against the manifest and
  the database count (a mismatch fails the job, E5), writes the datasheet and
  marks the version succeeded in the job's final transaction (F6). A worker
  killed before that leaves the version unfinished; the redelivered job
  starts over and overwrites the files (F2).
* ``manifest_compare`` merges two versions' sorted manifests line by line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import queue
import shutil
import tempfile
import threading
import time
import zipfile
import zlib
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

import numpy as np
import orjson
import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from isal import isal_zlib

import tasktypes
from accord.errors import InvalidInput
from accord.sql import LockNamespace
from agreement.reliability import value_of
from agreement.reports import ReportParams, headline_compute
from annotation.models import Annotation, Assignment
from items.models import Item
from projects.jobs import JobContext, JobFailed, job_create, job_enqueue
from projects.models import Job, JobStatus, Project
from projects.services import project_config
from review.models import GoldRecord, GoldRevision, GoldSource

from . import formats
from .formats.base import ExportOptions, GoldRow, IdDigest, MetaColumn, meta_kind
from .models import DatasetVersion
from .splits import (
    SPLIT_COLUMN,
    SPLIT_JOIN,
    UNSPLIT,
    SplitPreview,
    split_spec_parse,
    splits_assign,
    splits_check_names,
    splits_groups,
    splits_missing,
    splits_preview,
    splits_refusals,
)

KIND = "export"
CHUNK = 5_000
# Chunks fetched ahead of the writers (memory: about this many chunks more).
PREFETCH = 2
# Sorts and hashes of the split assignment and the read stay in memory at a
# million items (the default 4 MB spills them to disk); local to the export's
# transaction.
WORK_MEM = "64MB"
# The bundle is a convenience copy of files hashed on their own, deflated by
# ISA-L while they are written. Its level 1 (of 0 to 3) runs as fast as 0
# here and makes a smaller file.
ZIP_LEVEL = 1
MANIFEST = "manifest.jsonl"
DATASHEET = "datasheet.json"
BUNDLE = "bundle.zip"
# The jobs' working folders, in a local storage's folder (see _work_root),
# one per job: <WORK_PREFIX><job id>.
WORK_DIR = "exports/.work"
WORK_PREFIX = "accord-export-job-"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FILTER_KEYS = (
    "source",
    "min_guideline_version",
    "labels",
    "decided_from",
    "decided_to",
    "include_excluded",
)
OPTION_KEYS = ("provenance", "include_meta", "system_prompt", "prompt_template")
REQUEST_KEYS = ("format", "splits", "group_by", "filters", "options", "dry_run")
MAX_TEXT = 10_000
# The datasheet's agreement: the agreement report's resamples and seed.
AGREEMENT = ReportParams()
SPLIT_LOCK = int(LockNamespace.SPLITS)
SERIALIZATION_RETRIES = 3
SQL_DUMP = orjson.OPT_SORT_KEYS

ITEM = Item._meta.db_table
GOLD = GoldRecord._meta.db_table
REVISION = GoldRevision._meta.db_table
ANNOTATION = Annotation._meta.db_table
ASSIGNMENT = Assignment._meta.db_table


# --- the two databases' SQL ---------------------------------------------------------
# One query builder serves PostgreSQL (server mode) and SQLite (embedded
# mode); these fragments are all that differs. PostgreSQL keeps JSON as
# jsonb; SQLite keeps it as text, read with its JSON functions. Both give the
# rows the same values, and the formats re-serialise every value (sorted
# keys), so the files are the same bytes on both.


class _PostgreSQL:
    # The label bucket of a gold record: its label, the sorted label set of a
    # multi-label value, a hash of any other value; "" without gold or excluded.
    bucket = (
        "CASE WHEN g.id IS NULL OR g.excluded THEN '' "
        "WHEN jsonb_typeof(g.value) = 'string' THEN g.value #>> '{}' "
        "WHEN jsonb_typeof(g.value) = 'array' THEN COALESCE((SELECT string_agg(x, '|' ORDER BY x) "
        "FROM jsonb_array_elements_text(g.value) x), '') "
        "ELSE md5(g.value::text) END"
    )

    @staticmethod
    def one_of(expr: str, values: list) -> tuple[str, list]:
        return f"{expr} = ANY(%s)", [values]

    @staticmethod
    def has_label(labels: list) -> tuple[str, list]:
        """The gold value is one of ``labels`` or a list holding one."""
        return (
            "((jsonb_typeof(g.value) = 'string' AND g.value #>> '{}' = ANY(%s)) "
            "OR (jsonb_typeof(g.value) = 'array' AND g.value ?| %s))",
            [labels, labels],
        )

    @staticmethod
    def has_key(column: str) -> str:
        return f"{column} ? %s"

    @staticmethod
    def json_text(column: str) -> str:
        return f"{column}::text"

    @staticmethod
    def time_text(column: str) -> str:
        return f"to_json({column}) #>> '{{}}'"

    @staticmethod
    def aggregate(alias: str, fields: tuple, source: str, order: str) -> tuple[str, str]:
        """A JSON array of one object per row of ``source`` (FROM … WHERE,
        correlated with the record), ordered: the join and the column."""
        pairs = ", ".join(f"'{key}', {column}" for key, column, _ in fields)
        return (
            f"LEFT JOIN LATERAL (SELECT json_agg(json_build_object({pairs}) ORDER BY {order}) "
            f"AS rows {source}) {alias} ON TRUE",
            f"{alias}.rows::text",
        )


class _SQLite:
    # The same buckets; md5 is ours (exports/sqlite.py). Bucket names only
    # group records, so md5 of SQLite's JSON text serves as well as of
    # PostgreSQL's.
    bucket = (
        "CASE WHEN g.id IS NULL OR g.excluded THEN '' "
        "WHEN json_type(g.value) = 'text' THEN json_extract(g.value, '$') "
        "WHEN json_type(g.value) = 'array' THEN COALESCE((SELECT group_concat(x, '|') "
        "FROM (SELECT e.value AS x FROM json_each(g.value) e ORDER BY x)), '') "
        "ELSE md5(g.value) END"
    )

    @staticmethod
    def one_of(expr: str, values: list) -> tuple[str, list]:
        return f"{expr} IN ({', '.join(['%s'] * len(values))})", list(values)

    @staticmethod
    def has_label(labels: list) -> tuple[str, list]:
        one_of = ", ".join(["%s"] * len(labels))
        return (
            f"((json_type(g.value) = 'text' AND json_extract(g.value, '$') IN ({one_of})) "  # noqa: S608 - placeholders
            "OR (json_type(g.value) = 'array' AND EXISTS (SELECT 1 FROM json_each(g.value) e "
            f"WHERE e.type = 'text' AND e.value IN ({one_of}))))",
            [*labels, *labels],
        )

    @staticmethod
    def has_key(column: str) -> str:
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE key = %s)"  # noqa: S608 - our column

    @staticmethod
    def json_text(column: str) -> str:
        return column

    @staticmethod
    def time_text(column: str) -> str:
        return f"accord_json_time({column})"

    @staticmethod
    def aggregate(alias: str, fields: tuple, source: str, order: str) -> tuple[str, str]:
        # No LATERAL: a correlated subquery per record. Its rows are ordered
        # in a subquery that SQLite does not flatten into an aggregate.
        # Text columns holding JSON go in through json(), booleans (0 and 1
        # here) as JSON true and false, times as PostgreSQL writes them.
        shaped = {
            "json": "json({})",
            "bool": "json(CASE WHEN {} THEN 'true' ELSE 'false' END)",
            "time": "accord_json_time({})",
        }
        pairs = ", ".join(
            f"'{key}', {shaped[kind].format(column) if kind else column}"
            for key, column, kind in fields
        )
        return (
            "",
            f"(SELECT json_group_array(json(o)) FROM (SELECT json_object({pairs}) AS o "  # noqa: S608 - ours
            f"{source} ORDER BY {order}))",
        )


def _dialect() -> type[_PostgreSQL] | type[_SQLite]:
    return _SQLite if connection.vendor == "sqlite" else _PostgreSQL


# The split assignment's buckets (one database per process).
BUCKET_SQL = _dialect().bucket


# --- parameters ------------------------------------------------------------------


def _labels_of(config: dict) -> set[str] | None:
    labels = config.get("labels")
    if not isinstance(labels, list):
        return None
    return {label["key"] for label in labels if isinstance(label, dict) and "key" in label}


def _time(raw: Any, name: str) -> str | None:
    if raw is None:
        return None
    parsed = parse_datetime(raw) if isinstance(raw, str) else None
    if parsed is None:
        raise InvalidInput("must be an ISO 8601 time", field=f"filters.{name}")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def _filters_parse(raw: Any, config: dict) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput("must be an object", field="filters")
    unknown = sorted(set(raw) - set(FILTER_KEYS))
    if unknown:
        raise InvalidInput(
            [{"field": f"filters.{str(k)[:100]}", "reason": "unknown filter"} for k in unknown]
        )
    out: dict[str, Any] = {}
    source = raw.get("source")
    if isinstance(source, str):
        source = [source]
    if source is not None:
        valid = set(GoldSource.values)
        if not isinstance(source, list) or not source or not set(source) <= valid:
            raise InvalidInput(
                f"must be a list of gold sources ({', '.join(sorted(valid))})",
                field="filters.source",
            )
        source = sorted(set(source))
    out["source"] = source
    version = raw.get("min_guideline_version")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise InvalidInput("must be a whole number from 1", field="filters.min_guideline_version")
    out["min_guideline_version"] = version
    labels = raw.get("labels")
    if labels is not None:
        known = _labels_of(config)
        if known is None:
            raise InvalidInput("this task type has no labels", field="filters.labels")
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(x, str) for x in labels)
        ):
            raise InvalidInput("must be a list of label keys", field="filters.labels")
        bad = sorted(set(labels) - known)
        if bad:
            raise InvalidInput(f"unknown label {bad[0][:100]!r}", field="filters.labels")
        labels = sorted(set(labels))
    out["labels"] = labels
    out["decided_from"] = _time(raw.get("decided_from"), "decided_from")
    out["decided_to"] = _time(raw.get("decided_to"), "decided_to")
    if out["decided_from"] and out["decided_to"] and out["decided_from"] >= out["decided_to"]:
        raise InvalidInput("must be after decided_from", field="filters.decided_to")
    excluded = raw.get("include_excluded", False)
    if not isinstance(excluded, bool):
        raise InvalidInput("must be true or false", field="filters.include_excluded")
    out["include_excluded"] = excluded
    return out


def _options_parse(raw: Any) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput("must be an object", field="options")
    unknown = sorted(set(raw) - set(OPTION_KEYS))
    if unknown:
        raise InvalidInput(
            [{"field": f"options.{str(k)[:100]}", "reason": "unknown option"} for k in unknown]
        )
    defaults = ExportOptions()
    out: dict[str, Any] = {}
    for name in ("provenance", "include_meta"):
        flag = raw.get(name, getattr(defaults, name))
        if not isinstance(flag, bool):
            raise InvalidInput("must be true or false", field=f"options.{name}")
        out[name] = flag
    for name in ("system_prompt", "prompt_template"):
        text = raw.get(name, getattr(defaults, name))
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise InvalidInput(
                f"must be text of at most {MAX_TEXT} characters", field=f"options.{name}"
            )
        out[name] = text
    return out


def is_dry_run(raw: Any) -> bool:
    """Whether the request asks only for the split sizes (``"dry_run":
    true``); any other value of the field is refused by the parser."""
    return isinstance(raw, dict) and raw.get("dry_run") is True


def export_params_parse(*, project: Project, raw: Any) -> dict:
    """The request's parameters, checked and normalised (defaults filled,
    lists sorted), or InvalidInput with the field and the reason. The
    ``dry_run`` flag is checked but is no parameter of the version."""
    if not isinstance(raw, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = sorted(set(raw) - set(REQUEST_KEYS))
    if unknown:
        raise InvalidInput([{"field": str(k)[:100], "reason": "unknown field"} for k in unknown])
    if not isinstance(raw.get("dry_run", False), bool):
        raise InvalidInput("must be true or false", field="dry_run")
    key = raw.get("format")
    try:
        fmt = formats.get(key) if isinstance(key, str) else None
    except KeyError:
        fmt = None
    if fmt is None:
        raise InvalidInput(
            f"unknown format; one of {', '.join(sorted(formats.keys()))}", field="format"
        )
    config = project_config(project)
    task_type = tasktypes.get(config.task_type)
    if not fmt.supports(task_type):
        raise InvalidInput(
            f"a {config.task_type} project cannot be exported as {fmt.key}", field="format"
        )
    spec = split_spec_parse(raw.get("splits"))
    splits_check_names(project, spec)
    group_by = raw.get("group_by")
    if group_by is not None:
        if not isinstance(group_by, str) or not group_by or len(group_by) > 100:
            raise InvalidInput("must be a metadata field name", field="group_by")
        if not _gold_has_meta(project, group_by):
            raise InvalidInput(
                f"no gold item of this project has the metadata field {group_by!r}",
                field="group_by",
            )
    return {
        "format": fmt.key,
        "splits": spec,
        "group_by": group_by,
        "filters": _filters_parse(raw.get("filters"), config.config),
        "options": _options_parse(raw.get("options")),
    }


def _gold_has_meta(project: Project, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {GOLD} g JOIN {ITEM} i ON i.id = g.item_id "  # noqa: S608
            f"WHERE g.project_id = %s AND {_dialect().has_key('i.meta')})",
            [project.pk, name],
        )
        return bool(cursor.fetchone()[0])


def gold_state(project: Project, *, raw: bool = False) -> str:
    """A fingerprint of the project's gold: it changes with every new gold
    record, every re-adjudication (a new revision) and, for raw exports,
    every new annotation."""
    parts = []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), COALESCE(max(id), 0), COALESCE(sum(revision), 0) FROM {GOLD} "  # noqa: S608
            "WHERE project_id = %s",
            [project.pk],
        )
        parts.append("gold={}/{}/{}".format(*cursor.fetchone()))
        cursor.execute(
            f"SELECT count(*), COALESCE(max(id), 0) FROM {REVISION} WHERE project_id = %s",  # noqa: S608
            [project.pk],
        )
        parts.append("rev={}/{}".format(*cursor.fetchone()))
        if raw:
            cursor.execute(
                f"SELECT count(*), COALESCE(max(id), 0), COALESCE(sum(revision), 0) "  # noqa: S608
                f"FROM {ANNOTATION} WHERE project_id = %s",
                [project.pk],
            )
            parts.append("ann={}/{}/{}".format(*cursor.fetchone()))
    parts.append(f"config={project.config_version}")
    return ";".join(parts)[:200]


def request_key(params: dict, state: str) -> str:
    return hashlib.sha256(
        orjson.dumps({"params": params, "gold": state}, option=SQL_DUMP)
    ).hexdigest()


# --- starting ------------------------------------------------------------------------


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
    selected = _selection(project, params, raw=fmt.raw)
    sizes = splits_preview(
        project=project, spec=params["splits"], group_by=params["group_by"],
        selection=selected.sql, selection_params=selected.params,
        selected_ids=selected.ids, bucket_sql=BUCKET_SQL, groups=groups,
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
    selected = _selection(project, params, raw=fmt.raw)
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


# --- the gold query -------------------------------------------------------------------


@dataclass(frozen=True)
class _Selection:
    """The export's records: ``sql`` is their FROM … WHERE … (aliases i, g);
    ``ids`` a SELECT of their item ids (``item_id``), for counting, that
    leaves out the item table when only gold is filtered (half the count's
    time at a million records). Both take ``params``."""

    sql: str
    ids: str
    params: list


def _selection(project: Project, params: dict, *, raw: bool) -> _Selection:
    """The records the export's filters select."""
    filters = params["filters"]
    sql = _dialect()
    conds: list[str] = []
    values: list[Any] = []
    if filters["source"]:
        cond, more = sql.one_of("g.source", filters["source"])
        conds.append(cond)
        values += more
    if filters["min_guideline_version"] is not None:
        conds.append("g.min_guideline_version >= %s")
        values.append(filters["min_guideline_version"])
    if filters["labels"]:
        cond, more = sql.has_label(filters["labels"])
        conds.append(cond)
        values += more
    # SQLite compares times as text: the stored UTC times ("… 03:04:05.120000"
    # from the ORM, the same with "+00:00" from raw SQL) order correctly
    # against the parameter in the ORM's form.
    time = connection.ops.adapt_datetimefield_value
    if filters["decided_from"]:
        conds.append("g.decided_at >= %s")
        values.append(time(datetime.fromisoformat(filters["decided_from"])))
    if filters["decided_to"]:
        conds.append("g.decided_at < %s")
        values.append(time(datetime.fromisoformat(filters["decided_to"])))
    gold_filtered = bool(conds)
    if not filters["include_excluded"]:
        conds.append("NOT g.excluded")
    gold_cond = " AND ".join(conds) or "TRUE"
    if not raw:
        where = f"WHERE g.project_id = %s AND {gold_cond}"
        return _Selection(
            sql=f"FROM {GOLD} g JOIN {ITEM} i ON i.id = g.item_id {where}",  # noqa: S608
            ids=f"SELECT g.item_id FROM {GOLD} g {where}",  # noqa: S608
            params=[project.pk, *values],
        )
    # Raw: every item with a submitted annotation, gold or not; an item
    # without gold passes unless a filter asks something of the gold.
    no_gold = "FALSE" if gold_filtered else "g.id IS NULL"
    sql = (
        f"FROM {ITEM} i LEFT JOIN {GOLD} g ON g.item_id = i.id "  # noqa: S608
        f"WHERE i.project_id = %s AND EXISTS (SELECT 1 FROM {ANNOTATION} n "
        f"JOIN {ASSIGNMENT} a ON a.id = n.assignment_id AND a.state = 'submitted' "
        f"WHERE n.item_id = i.id) AND ({no_gold} OR (g.id IS NOT NULL AND {gold_cond}))"
    )
    return _Selection(sql=sql, ids=f"SELECT i.id AS item_id {sql}", params=[project.pk, *values])


# A record's gold revisions (the raw format's history), as a JSON array:
# (key, column, kind), the kind telling SQLite how to make the column JSON.
HISTORY_FIELDS = (
    ("revision", "r.number", ""),
    ("value", "r.value", "json"),
    ("excluded", "r.excluded", "bool"),
    ("source", "r.source", ""),
    ("reviewer", "r.reviewer_id", ""),
    ("reason", "r.reason", ""),
    ("reason_code", "r.reason_code", ""),
    ("decided_at", "r.decided_at", "time"),
)
HISTORY_SOURCE = f"FROM {REVISION} r WHERE r.gold_id = g.id"  # noqa: S608 - our table


def _rows_sql(selection: str, *, history: bool) -> str:
    sql = _dialect()
    join, column = (
        sql.aggregate("hist", HISTORY_FIELDS, HISTORY_SOURCE, "r.number")
        if history
        else ("", "NULL")
    )
    from_part, where_part = selection.split(" WHERE ", 1)
    return (
        f"SELECT i.id, i.external_id, {sql.json_text('i.data')}, {sql.json_text('i.meta')}, "
        f"{SPLIT_COLUMN}, g.id, {sql.json_text('g.value')}, "
        "COALESCE(g.excluded, FALSE), COALESCE(g.source, ''), COALESCE(g.revision, 0), "
        f"{sql.time_text('g.decided_at')}, g.reviewer_id, COALESCE(g.reason, ''), "
        "COALESCE(g.reason_code, ''), g.config_version, g.guideline_version, "
        f"g.min_guideline_version, {column} {from_part} {SPLIT_JOIN} {join} "
        f"WHERE {where_part} ORDER BY i.id"
    )


def _annotations_sql() -> str:
    """The project's submitted annotations in the records' order (item id),
    each item's by id: the provenance's, streamed beside the records and
    merged with them in Python. Aggregating them per record in SQL (a
    correlated subquery for each) cost PostgreSQL three times the rest of
    the read; a stream in item order is a merge of two indexes."""
    sql = _dialect()
    return (
        f"SELECT n.item_id, n.id, n.annotator_id, {sql.json_text('n.value')}, "  # noqa: S608 - ours
        f"n.guideline_version, n.config_version, {sql.time_text('n.created_at')} "
        f"FROM {ANNOTATION} n JOIN {ASSIGNMENT} a ON a.id = n.assignment_id "
        "AND a.state = 'submitted' WHERE n.project_id = %s ORDER BY n.item_id, n.id"
    )


class _Ratings:
    """The submitted annotations of the records written, gathered for the
    datasheet's annotators and agreement: each record's values as a unit
    pattern (the JSON texts of its values), counted, and the annotators'
    ids. α depends on the units only through these patterns: a
    million records leave a few dozen, where every annotation's unit and
    value, and the matrices the coefficients build from them, took some
    350 MB at a million."""

    def __init__(self) -> None:
        self.annotators: set[int] = set()
        self.patterns: dict[tuple, int] = {}
        self._pending: tuple[int | None, list, list] = (None, [], [])

    def add(self, annotators: list[int], texts: list[str]) -> None:
        """One record's annotations."""
        self.annotators.update(annotators)
        # In the annotations' order: distinct_units sorts each distinct key
        # once, instead of every record's (a third of this method's time).
        key = tuple(texts)
        patterns = self.patterns
        patterns[key] = patterns.get(key, 0) + 1

    def add_rows(self, rows: list[tuple]) -> None:
        """(item id, annotator, value text) rows sorted by item; an item's
        annotations may go on in the next rows."""
        item, people, texts = self._pending
        for item_id, annotator, text in rows:
            if item_id != item:
                if texts:
                    self.add(people, texts)
                item, people, texts = item_id, [], []
            people.append(annotator)
            texts.append(text)
        self._pending = (item, people, texts)

    def flush(self) -> None:
        """Count the last item of ``add_rows``."""
        _, people, texts = self._pending
        if texts:
            self.add(people, texts)
        self._pending = (None, [], [])

    @property
    def items(self) -> int:
        return sum(self.patterns.values())

    @property
    def annotations(self) -> int:
        return sum(len(key) * n for key, n in self.patterns.items())

    def distinct_units(self) -> tuple[np.ndarray, np.ndarray, list]:
        """The distinct units as a matrix of value codes (NaN where missing),
        how many records each stands for, and the values by code. A value's
        code and the rows' order come from its canonical JSON, so the same
        annotations give the same figure (and bootstrap draws) on both
        databases, whose JSON texts differ."""
        self.flush()
        canonical = {
            text: orjson.dumps(orjson.loads(text), option=SQL_DUMP).decode()
            for key in self.patterns
            for text in key
        }
        values = sorted(set(canonical.values()))
        index = {value: n for n, value in enumerate(values)}
        code = {text: index[canonical[text]] for text in canonical}
        merged: Counter = Counter()
        for key, n in self.patterns.items():
            merged[tuple(sorted(code[text] for text in key))] += n
        rows = sorted(merged.items(), key=lambda p: (len(p[0]), p[0]))
        width = max((len(key) for key, _ in rows), default=0)
        units = np.full((len(rows), width), np.nan)
        for row, (key, _) in enumerate(rows):
            units[row, : len(key)] = key
        weights = np.array([n for _, n in rows], dtype=np.int64)
        return units, weights, [value_of(text) for text in values]


class _AnnotationsByItem:
    """The annotation stream of ``_annotations_sql``, taken item by item in
    ascending item order; items the records skip (filtered out) are passed
    over. The annotations taken go to ``ratings`` too."""

    def __init__(self, chunks: Iterator[list[tuple]], ratings: _Ratings) -> None:
        self._groups = self._grouped(chunks)
        self._next = next(self._groups, None)
        self._ratings = ratings

    @staticmethod
    def _grouped(chunks: Iterator[list[tuple]]) -> Iterator[tuple[int, list[dict], list, list]]:
        loads = orjson.loads
        current, group, people, texts = None, [], [], []
        for rows in chunks:
            for item_id, pk, annotator, value, guideline, config, submitted_at in rows:
                if item_id != current:
                    if group:
                        yield current, group, people, texts
                    current, group, people, texts = item_id, [], [], []
                group.append(
                    {"id": pk, "annotator": annotator, "value": loads(value),
                     "guideline_version": guideline, "config_version": config,
                     "submitted_at": submitted_at}
                )  # fmt: skip
                people.append(annotator)
                texts.append(value)
        if group:
            yield current, group, people, texts

    def take(self, item_id: int) -> list[dict]:
        """The submitted annotations of ``item_id`` (none: an empty list)."""
        upcoming = self._next
        while upcoming is not None and upcoming[0] < item_id:
            upcoming = next(self._groups, None)
        if upcoming is not None and upcoming[0] == item_id:
            self._next = next(self._groups, None)
            self._ratings.add(upcoming[2], upcoming[3])
            return upcoming[1]
        self._next = upcoming
        return []


def label_of(value: Any) -> str | None:
    """The manifest's label: the label key, the sorted labels joined by "|",
    or a short hash of any other value (so a compare sees it change) — of
    its canonical JSON, not of the database's text, which differs between
    PostgreSQL and SQLite."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "|".join(sorted(value))
    return "sha256:" + hashlib.sha256(orjson.dumps(value, option=SQL_DUMP)).hexdigest()[:16]


# --- files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    """A member of the bundle as the zip holds it: its bytes (a local file,
    or in memory), deflated or stored, and the crc32 and size of the file."""

    crc: int
    size: int
    method: int  # zipfile.ZIP_DEFLATED or zipfile.ZIP_STORED
    path: str | None = None
    body: bytes | None = None

    @classmethod
    def deflated(cls, body: bytes) -> _Member:
        squeeze = _deflater()
        return cls(
            crc=zlib.crc32(body),
            size=len(body),
            method=zipfile.ZIP_DEFLATED,
            body=squeeze.compress(body) + squeeze.flush(),
        )

    def packed_size(self) -> int:
        return len(self.body) if self.body is not None else os.path.getsize(self.path)


def _deflater():
    """A raw deflate stream, as a zip member holds it."""
    return isal_zlib.compressobj(ZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)


class _HashingFile(io.FileIO):
    """A local file that hashes what is written to it, in order, and (with
    ``deflate``) deflates it beside it for the bundle. The writing, hashing
    and deflating happen on a thread of the file's own (all release the
    GIL), so the export's thread goes on making the next rows meanwhile and
    the bundle is assembled at the end from what is ready; ``close`` waits
    for them and raises what failed."""

    def __init__(self, path: str, *, deflate: bool = True) -> None:
        super().__init__(path, "wb")
        self.sha = hashlib.sha256()
        self.size = 0
        self.crc = 0
        self._deflated = open(path + ".deflate", "wb") if deflate else None
        self._squeeze = _deflater() if deflate else None
        self._pending: queue.Queue = queue.Queue(maxsize=8)  # at most 8 chunks in flight
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="export-hash", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (data := self._pending.get()) is not None:
            if self._error is not None:
                continue  # keep taking chunks so write() never blocks for ever
            try:
                view = memoryview(data)
                while view:
                    view = view[super().write(view) :]
                self.sha.update(data)
                self.crc = zlib.crc32(data, self.crc)
                if self._deflated is not None:
                    self._deflated.write(self._squeeze.compress(data))
            except BaseException as exc:  # raised by close()
                self._error = exc
        if self._deflated is not None:
            try:
                with self._deflated:
                    if self._error is None:
                        self._deflated.write(self._squeeze.flush())
            except BaseException as exc:
                self._error = self._error or exc

    def write(self, data) -> int:
        if self._error is not None:
            raise self._error
        chunk = bytes(data)  # the caller may reuse its buffer once we return
        self._pending.put(chunk)
        self.size += len(chunk)
        return len(chunk)

    def close(self) -> None:
        if self._thread.is_alive():
            self._pending.put(None)
            self._thread.join()
        super().close()
        if self._error is not None:
            raise self._error

    def member(self) -> _Member:
        """The bundle's member for this file, once it is closed."""
        if self._deflated is None:
            return _Member(self.crc, self.size, zipfile.ZIP_STORED, path=self.name)
        return _Member(self.crc, self.size, zipfile.ZIP_DEFLATED, path=self._deflated.name)


@dataclass
class _Out:
    name: str  # relative to the version's folder
    path: str
    raw: _HashingFile
    stream: io.BufferedWriter
    split: str | None = None
    writer: Any = None
    rows: int = 0
    # The item ids of a split's records as written (its manifest lines),
    # hashed a chunk at a time: what reconciliation compares the stored file
    # with, in constant memory (a million ids would be 8 MB).
    ids: array = field(default_factory=lambda: array("q"))
    ids_digest: IdDigest = field(default_factory=IdDigest)

    def ids_flush(self) -> None:
        self.ids_digest.update(self.ids)
        del self.ids[:]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.stream.flush()
        self.stream.close()


def _open(tmp: str, name: str, *, split: str | None = None, deflate: bool = True) -> _Out:
    path = os.path.join(tmp, name.replace("/", "__"))
    raw = _HashingFile(path, deflate=deflate)
    return _Out(name=name, path=path, raw=raw, stream=io.BufferedWriter(raw, 1 << 20), split=split)


def _data_name(fmt, split: str) -> str:
    # Hugging Face folders keep their data files under data/ (the dataset
    # card's `configs` point there); other formats at the top.
    folder = getattr(fmt, "data_dir", "data/" if fmt.key == "hf" else "")
    return f"{folder}{split}{fmt.extension}"


def _local_storage() -> bool:
    # Django's own folder storage only: a subclass may change what it saves
    # (compress, encrypt, check), which a hard link would go around.
    return default_storage.__class__ is FileSystemStorage


def _work_root() -> str:
    """Where the jobs make their files: beside the stored versions when
    storage is a local folder, so that storing a file is a hard link instead
    of a copy of every byte (700 MB at a million JSONL records); else the
    system's temporary folder."""
    if not _local_storage():
        return tempfile.gettempdir()
    work = default_storage.path(WORK_DIR)
    os.makedirs(work, exist_ok=True)
    return work


def _work_folder(job_id: int) -> str:
    # Named by the job, so what a killed attempt left can be found and
    # removed (work_folder_remove, work_folders_sweep).
    return os.path.join(_work_root(), f"{WORK_PREFIX}{job_id}")


def work_folder_remove(job_id: int) -> None:
    """Remove the job's work folder. Called under the job's lock (projects.jobs:
    when it is requeued, when it finishes, before an attempt starts)."""
    shutil.rmtree(_work_folder(job_id), ignore_errors=True)


def work_folders_sweep() -> int:
    """Remove the work folders whose job is over or gone (a worker killed
    before it could remove its own, and its job given up), and the unnamed
    folders of older releases after a day. Runs hourly and before each
    export. Returns how many went."""
    root = _work_root()
    folders: dict[int, str] = {}
    removed = 0
    stale = time.time() - 24 * 3600
    for entry in os.scandir(root):
        if not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name.startswith(WORK_PREFIX) and entry.name[len(WORK_PREFIX) :].isdigit():
            folders[int(entry.name[len(WORK_PREFIX) :])] = entry.path
        elif entry.name.startswith("accord-export-") and entry.stat().st_mtime < stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    live = set(
        Job.objects.filter(
            pk__in=folders, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).values_list("pk", flat=True)
    )
    for job_id, path in folders.items():
        if job_id not in live:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _linked(path: str, target: str) -> bool:
    """Store ``path`` as ``target`` by a hard link, when storage is a local
    folder on the same filesystem; False when it cannot."""
    if not _local_storage():
        return False
    full = default_storage.path(target)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    try:
        os.link(path, full)
    except OSError:  # another filesystem, or links not allowed: copy instead
        return False
    if default_storage.file_permissions_mode is not None:
        os.chmod(full, default_storage.file_permissions_mode)
    return True


def _store(version: DatasetVersion, name: str, path: str) -> None:
    """Put a local file into storage under the version's folder, replacing
    what an earlier, killed attempt left there."""
    target = version.folder + name
    if default_storage.exists(target):
        default_storage.delete(target)
    if _linked(path, target):
        return
    with open(path, "rb") as fh:
        saved = default_storage.save(target, File(fh, name=os.path.basename(target)))
    if saved != target:
        raise JobFailed(f"Storage stored {name} as {saved}; the export cannot be reconciled.")


def _file_entry(out: _Out, fmt=None) -> dict:
    entry = {"name": out.name, "size": out.raw.size, "sha256": out.raw.sha.hexdigest()}
    if out.split is not None:
        entry["split"] = out.split
        entry["content_type"] = fmt.content_type
    return entry


# --- the job -----------------------------------------------------------------------------


@dataclass
class _Read:
    """What one pass over the snapshot gathered."""

    total: int = 0
    records: int = 0
    assigned: int = 0
    splits: Counter = field(default_factory=Counter)
    labels: Counter = field(default_factory=Counter)
    by_split: dict[str, Counter] = field(default_factory=dict)
    sources: Counter = field(default_factory=Counter)
    guideline_versions: set = field(default_factory=set)
    config_versions: set = field(default_factory=set)
    reviewers: set = field(default_factory=set)
    annotators: list = field(default_factory=list)
    excluded: int = 0
    ratings: _Ratings = field(default_factory=_Ratings)


def _prefetched(cursor, size: int) -> Iterator[list[tuple]]:
    """The rows of a server-side cursor, in chunks of ``size``, fetched by a
    thread one or two chunks ahead: PostgreSQL computes the next chunk (on
    the other core) while this thread writes the current one, instead of
    each waiting for the other. The thread only ever touches this cursor,
    and the caller does not use the connection until the generator ends."""
    raw = cursor.cursor  # psycopg's own cursor: Django's wrapper adds nothing per fetch
    # This thread's connection's error wrapper (connections are per thread).
    errors = connection.wrap_database_errors
    chunks: queue.Queue = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            with errors:
                while not stop.is_set():
                    rows = raw.fetchmany(size)
                    if not put(rows) or not rows:
                        return
        except BaseException as exc:  # handed to the reader, raised there
            put(exc)

    thread = threading.Thread(target=fetch, name="export-fetch", daemon=True)
    thread.start()
    try:
        while True:
            item = chunks.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item
    finally:
        # Stopped early (a failure, a cancel): let the thread finish its
        # fetch before anyone else uses the connection.
        stop.set()
        thread.join()


def _chunks(cursor, size: int) -> Iterator[list[tuple]]:
    """The query's rows in chunks: prefetched from PostgreSQL's server-side
    cursor; on SQLite, which steps through the result as it is read (no
    server-side cursor, nothing held whole), fetched in turn."""
    if connection.vendor == "postgresql":
        yield from _prefetched(cursor, size)
        return
    while rows := cursor.fetchmany(size):
        yield rows


def _read_snapshot(ctx: JobContext, version, project, fmt, outs, manifest, tmp) -> _Read:
    """Assign missing splits, count, stream and write: all in one snapshot."""
    params = version.params
    spec = params["splits"]
    options = ExportOptions(**params["options"])
    config = project_config(project)
    task_type = tasktypes.get(config.task_type)
    selected = _selection(project, params, raw=fmt.raw)
    selection, values = selected.sql, selected.params
    read = _Read()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            # JIT compiling the export's queries took longer (about a second)
            # than it saved: the rows' cost is in Python, which runs beside
            # PostgreSQL.
            cursor.execute("SET LOCAL jit = off")
    need_annotations = options.provenance or fmt.raw
    if spec:
        # The records are counted in the scan that looks for missing splits.
        read.total, read.assigned = splits_assign(
            project=project,
            spec=spec,
            group_by=params["group_by"],
            selection=selection,
            selection_params=values,
            selected_ids=selected.ids,
            bucket_sql=BUCKET_SQL,
        )
    if not spec:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({selected.ids}) sel", values)  # noqa: S608
            read.total = cursor.fetchone()[0]
    if not need_annotations:
        # Else the annotations come with the rows (the same ones: submitted,
        # of the selected items), and the agreement is gathered from them.
        _ratings_read(read.ratings, selected)
    if fmt.flat_meta and options.include_meta:
        options = dataclasses.replace(options, meta_columns=_meta_columns(selected))
    ctx.progress(0, read.total, force=True)
    for name in sorted(spec or [UNSPLIT]):
        out = outs[name] = _open(tmp, _data_name(fmt, name), split=name, deflate=not fmt.compressed)
        out.writer = fmt.writer(
            out.stream, task_type=task_type, config=config.config, options=options
        )
    sql = _rows_sql(selection, history=fmt.raw)
    loads, dumps = orjson.loads, orjson.dumps
    unsplit = not spec
    # One counter per row, split into the datasheet's tallies at the end.
    tally: Counter = Counter()
    cursor = connection.chunked_cursor()
    chunks = None
    annotation_cursor = connection.chunked_cursor() if need_annotations else None
    annotation_chunks = None
    try:
        cursor.execute(sql, values)
        chunks = _chunks(cursor, CHUNK)
        annotations_of = None
        if annotation_cursor is not None:
            annotation_cursor.execute(_annotations_sql(), [project.pk])
            annotation_chunks = _chunks(annotation_cursor, CHUNK)
            annotations_of = _AnnotationsByItem(annotation_chunks, read.ratings).take
        for rows in chunks:
            lines = []
            for (
                item_id, external_id, data, meta, split, gold_id, value_text, excluded, source,
                revision, decided_at, reviewer, reason, reason_code, config_version,
                guideline_version, min_guideline_version, history,
            ) in rows:  # fmt: skip
                split = UNSPLIT if unsplit else split
                excluded = bool(excluded)  # SQLite's 0 and 1
                out = outs.get(split)
                if out is None:
                    raise JobFailed(f"Item {item_id} has no split of this export ({split!r}).")
                value = loads(value_text) if value_text is not None and not excluded else None
                submitted = annotations_of(item_id) if annotations_of else []
                provenance = {
                    "gold_id": gold_id,
                    "source": source,
                    "revision": revision,
                    "decided_at": decided_at,
                    "reviewer": reviewer,
                    "reason": reason,
                    "reason_code": reason_code,
                    "config_version": config_version,
                    "guideline_version": guideline_version,
                    "min_guideline_version": min_guideline_version,
                    "annotations": submitted,
                }
                out.writer.write(
                    GoldRow(
                        item_id=item_id,
                        external_id=external_id,
                        split=split,
                        data=loads(data),
                        meta=loads(meta) if meta != "{}" else {},
                        value=value,
                        excluded=excluded,
                        source=source,
                        revision=revision,
                        provenance=provenance,
                        history=tuple(loads(history)) if history else (),
                    )
                )
                out.rows += 1
                out.ids.append(item_id)
                label = label_of(value)
                lines.append(
                    dumps(
                        {"item": item_id, "revision": revision, "split": split, "label": label},
                        option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE,
                    )
                )
                tally[split, label, source, excluded] += 1
                if gold_id is not None:
                    read.config_versions.add(config_version)
                    if guideline_version is not None:
                        read.guideline_versions.add(guideline_version)
                if reviewer is not None:
                    read.reviewers.add(reviewer)
            manifest.stream.write(b"".join(lines))
            for out in outs.values():
                out.ids_flush()
            read.records += len(rows)
            ctx.progress(read.records, read.total)
    finally:
        # Each stops its fetching thread before its cursor closes.
        for stream in (chunks, annotation_chunks):
            if stream is not None:
                stream.close()
        cursor.close()
        if annotation_cursor is not None:
            annotation_cursor.close()
    read.annotators = sorted(read.ratings.annotators)
    for name, out in outs.items():
        read.splits[name] = out.rows
        read.by_split[name] = Counter()
    for (split, label, source, excluded), n in tally.items():
        read.labels[label] += n
        read.by_split[split][label] += n
        read.sources[source] += n
        read.excluded += n if excluded else 0
    if read.records != read.total:
        raise JobFailed(
            f"The export read {read.records} records but the database holds {read.total} "
            "for these filters at the snapshot."
        )
    if read.assigned and any(share > 0 and not read.splits[n] for n, share in spec.items()):
        # The request was checked (export_start), but gold may have changed
        # since: failing here rolls the assignment back with the snapshot.
        refused = splits_refusals(
            project=project, spec=spec, group_by=params["group_by"], records=dict(read.splits),
            groups=splits_groups(group_by=params["group_by"], selection=selection,
                                 selection_params=values),
            new=read.assigned,
        )  # fmt: skip
        if refused:
            raise JobFailed("; ".join(error["reason"] for error in refused) + ".")
    return read


def _ratings_read(ratings: _Ratings, selected: _Selection) -> None:
    """The submitted annotations of the selected items, in item order, into
    ``ratings``: a stream of narrow rows, fetched before the records'."""
    sql = _dialect()
    cursor = connection.chunked_cursor()
    chunks = None
    try:
        cursor.execute(
            f"SELECT n.item_id, n.annotator_id, {sql.json_text('n.value')} FROM {ANNOTATION} n "  # noqa: S608
            f"JOIN {ASSIGNMENT} a ON a.id = n.assignment_id AND a.state = 'submitted' "
            f"WHERE n.item_id IN ({selected.ids}) ORDER BY n.item_id, n.id",
            selected.params,
        )
        chunks = _chunks(cursor, CHUNK)
        for rows in chunks:
            ratings.add_rows(rows)
        ratings.flush()
    finally:
        if chunks is not None:
            chunks.close()
        cursor.close()


def _meta_columns(selected: _Selection) -> tuple[MetaColumn, ...]:
    """The metadata fields of the selected items and the JSON types of their
    values, in one query: a flat format's metadata columns and their types
    (formats.base.meta_kind) come from every record of the export, so they
    do not depend on which record comes first, and the same records give
    the same columns on both databases."""
    from_part, where_part = selected.sql.split(" WHERE ", 1)
    if connection.vendor == "postgresql":
        kind = (
            "CASE jsonb_typeof(k.value) WHEN 'number' THEN CASE WHEN k.value::text ~ '^-?[0-9]+$' "
            "THEN 'integer' ELSE 'real' END ELSE jsonb_typeof(k.value) END"
        )
        each = "CROSS JOIN LATERAL jsonb_each(i.meta) k"
        # Most items have no metadata: skipping them before jsonb_each took
        # the query from 0.13 s to 0.02 s at 100,000 records.
        empty = "i.meta <> '{}'::jsonb"
    else:
        kind = (
            "CASE k.type WHEN 'text' THEN 'string' WHEN 'true' THEN 'boolean' "
            "WHEN 'false' THEN 'boolean' ELSE k.type END"
        )
        each = "CROSS JOIN json_each(i.meta) k"
        empty = "i.meta <> '{}'"
    types: dict[str, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT k.key, {kind} {from_part} {each} WHERE {where_part} AND {empty}",  # noqa: S608
            selected.params,
        )
        for key, kind_of in cursor.fetchall():
            types.setdefault(key, set()).add(kind_of)
    return tuple(MetaColumn(key, meta_kind(types[key])) for key in sorted(types))


def _is_serialization_failure(exc: BaseException) -> bool:
    return isinstance(getattr(exc, "__cause__", None), psycopg.errors.SerializationFailure)


@contextlib.contextmanager
def _sqlite_deferred(wanted: bool) -> Iterator[None]:
    """On SQLite, transactions begun inside start DEFERRED: the read takes
    no write lock and, in WAL mode, sees one snapshot from its first read to
    its commit, while annotators go on writing. The embedded mode otherwise
    begins IMMEDIATE (the write lock at BEGIN), which an export that assigns
    splits still needs: SQLite refuses to turn a read transaction into a
    write once another connection has written meanwhile."""
    if not wanted or connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    connection.ensure_connection()  # connecting would reset the mode
    configured = connection.transaction_mode
    connection.transaction_mode = "DEFERRED"
    try:
        yield
    finally:
        connection.transaction_mode = configured


def _snapshot(ctx, version, project, fmt, tmp) -> tuple[_Read, dict[str, _Out], _Out]:
    """Run the read in one transaction: REPEATABLE READ on PostgreSQL
    (retried when a concurrent write to the same items makes PostgreSQL
    refuse it), one read transaction on SQLite (WAL: a snapshot)."""
    for attempt in range(SERIALIZATION_RETRIES):
        outs: dict[str, _Out] = {}
        manifest = _open(tmp, MANIFEST)
        try:
            nested = connection.in_atomic_block
            with _sqlite_deferred(not version.params["splits"]), transaction.atomic():
                if connection.vendor == "postgresql" and not nested:
                    # First statement of the transaction: every read below
                    # sees the same gold, whatever reviewers do meanwhile.
                    with connection.cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                read = _read_snapshot(ctx, version, project, fmt, outs, manifest, tmp)
            for out in outs.values():
                out.close()
            manifest.close()
            return read, outs, manifest
        except BaseException as exc:
            # Closed on every failure: each file's hashing thread ends with it.
            for out in [*outs.values(), manifest]:
                with contextlib.suppress(Exception):  # the failure to report is exc
                    out.stream.close()
            retry = isinstance(exc, OperationalError) and _is_serialization_failure(exc)
            if not retry or attempt == SERIALIZATION_RETRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _plain(stored) -> BinaryIO:
    # Django's File iterates line by line in Python; its underlying file
    # (when storage has one) is a plain buffered reader.
    return getattr(stored, "file", stored)


def _size_and_sha256(fh: BinaryIO) -> tuple[int, str]:
    """The bytes left in ``fh``: how many, and their sha256."""
    digest, size = hashlib.sha256(), 0
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _stored_as_written(version: DatasetVersion, out: _Out) -> None:
    """The stored copy of ``out`` has the size and sha256 of what was written."""
    with default_storage.open(version.folder + out.name, "rb") as stored:
        size, sha = _size_and_sha256(stored)
    if size != out.raw.size or sha != out.raw.sha.hexdigest():
        raise JobFailed(f"The stored {out.name} is not the file that was written.")


def _reconcile(version: DatasetVersion, fmt, outs: dict[str, _Out], manifest: _Out) -> None:
    """Read back what was stored. The manifest is the bytes written; its
    lines were written with the ids each split's writer was given, hashed as
    they went. Every split's stored data file holds exactly those items, in
    order; a format that carries no ids is checked as the bytes written. A
    mismatch fails the job (E5)."""
    _stored_as_written(version, manifest)
    for out in outs.values():
        with default_storage.open(version.folder + out.name, "rb") as stored:
            read_back = fmt.ids_digest(_plain(stored))
        if read_back is None:
            _stored_as_written(version, out)
            continue
        count, digest = read_back
        if count != out.rows:
            raise JobFailed(f"{out.name} holds {count} records; the manifest lists {out.rows}.")
        if digest != out.ids_digest.result()[1]:
            raise JobFailed(
                f"{out.name} differs from the manifest: the same number of records, but other "
                "items or another order."
            )


def _agreement(project: Project, read: _Read) -> dict:
    """The agreement of this version's records: the project's headline
    coefficient (review.reports.headline_compute, as its agreement report
    computes it, with the report's seeded bootstrap interval) over every
    submitted annotation of the exported items — not the project's latest
    report, which covers other items at another time."""
    config = project_config(project)
    units, weights, values = read.ratings.distinct_units()
    figure = headline_compute(
        tasktypes.get(config.task_type), config.config, units, weights, values, AGREEMENT
    )
    return {
        "computed_on": "the submitted annotations of this version's records",
        **figure,
        "items": read.ratings.items,
        "annotations": read.ratings.annotations,
        "n_boot": AGREEMENT.n_boot,
        "seed": AGREEMENT.seed,
    }


def _people(ids) -> list[dict]:
    users = get_user_model().objects.filter(pk__in=list(ids)).order_by("pk")
    return [{"id": u.pk, "username": u.username} for u in users.only("pk", "username")]


def _counts(read: _Read) -> dict:
    def plain(counter: Counter) -> dict:
        return {
            ("" if k is None else str(k)): v
            for k, v in sorted(counter.items(), key=lambda x: str(x[0]))
        }

    return {
        "splits": dict(sorted(read.splits.items())),
        "labels": plain(read.labels),
        "labels_by_split": {s: plain(c) for s, c in sorted(read.by_split.items())},
    }


def datasheet_build(version: DatasetVersion, project: Project, read: _Read) -> dict:
    params = version.params
    return {
        "dataset_version": version.pk,
        "project": {"id": project.pk, "name": project.name, "task_type": project.task_type},
        "format": params["format"],
        "records": read.records,
        "excluded_records": read.excluded,
        "counts": _counts(read),
        "gold_sources": dict(sorted(read.sources.items())),
        "agreement": _agreement(project, read),
        "guideline_versions": sorted(read.guideline_versions),
        "config_versions": sorted(read.config_versions),
        "annotators": _people(read.annotators),
        "reviewers": _people(read.reviewers),
        "filters": params["filters"],
        "options": params["options"],
        "splits": params["splits"],
        "group_by": params["group_by"],
        "split_seed": project.split_salt,
        "splits_assigned_now": read.assigned,
        "gold_state": version.gold_state,
        "accord_version": settings.ACCORD_VERSION,
        "created_at": timezone.now().isoformat(),
    }


def _zip(tmp: str, members: list[tuple[str, _Member]]) -> str:
    """A canonical zip: sorted names, fixed dates and permissions.

    The members come ready (deflated while they were written, or stored when
    the format compressed them itself), so the zip is headers around copied
    bytes. zipfile cannot take a member's packed bytes, so each local header
    is written here and the member handed to the archive, whose close writes
    the central directory (with Zip64 records where sizes need them)."""
    path = os.path.join(tmp, BUNDLE)
    with zipfile.ZipFile(path, "w") as archive:
        for name, member in sorted(members, key=lambda m: m[0]):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = member.method
            info.external_attr = 0o644 << 16
            info.create_system = 3
            info.CRC, info.file_size = member.crc, member.size
            info.compress_size = member.packed_size()
            info.header_offset = archive.fp.tell()
            archive.fp.write(info.FileHeader())
            if member.body is not None:
                archive.fp.write(member.body)
            else:
                with open(member.path, "rb") as src:
                    shutil.copyfileobj(src, archive.fp, 1 << 20)
            archive.filelist.append(info)
            archive.NameToInfo[name] = info
            archive.start_dir = archive.fp.tell()  # where the central directory goes
    return path


class _Background(threading.Thread):
    """Runs ``work`` on a thread; ``result()`` joins it and returns its value
    or raises its exception."""

    def __init__(self, work) -> None:
        super().__init__(name="export-zip", daemon=True)
        self.work = work
        self.value: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.work()
        except BaseException as exc:  # raised in result()
            self.error = exc

    def result(self) -> Any:
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def version_sha256(data_files: list[dict]) -> str:
    """sha256 over the data files in name order: name NUL sha256 newline."""
    digest = hashlib.sha256()
    for entry in sorted(data_files, key=lambda e: e["name"]):
        digest.update(f"{entry['name']}\0{entry['sha256']}\n".encode())
    return digest.hexdigest()


def export_run(ctx: JobContext) -> None:
    """The job's work; see the module docstring. Safe to run again from the
    start: it rewrites every file and only the last transaction marks the
    version done."""
    version = DatasetVersion.objects.select_related("project").get(pk=ctx.params["version"])
    project = version.project
    fmt = formats.get(version.format)
    locked = False
    if connection.vendor == "postgresql" and ctx.side.conn is not None:
        # Split assignment per project one at a time; on the job's side
        # connection, so a killed worker's lock goes with its session.
        ctx.side.execute("SELECT pg_advisory_lock(%s, %s)", [SPLIT_LOCK, project.pk])
        locked = True
    try:
        work_folders_sweep()
        # This attempt holds the job's lock: whatever is in its folder was
        # left by an attempt that died.
        tmp = _work_folder(ctx.job.pk)
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        try:
            read, outs, manifest = _snapshot(ctx, version, project, fmt, tmp)
            _finish(ctx, version, project, fmt, tmp, read, outs, manifest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if locked:
            ctx.side.execute("SELECT pg_advisory_unlock(%s, %s)", [SPLIT_LOCK, project.pk])


def _bundle(tmp: str, members: list[tuple[str, _Member]]) -> tuple[str, int, str]:
    """The zip, its size and its sha256."""
    bundle = _zip(tmp, members)
    with open(bundle, "rb") as fh:
        size, sha = _size_and_sha256(fh)
    return bundle, size, sha


def _finish(ctx, version, project, fmt, tmp, read, outs, manifest) -> None:
    project.refresh_from_db()
    data_files = [_file_entry(out, fmt) for out in outs.values()]
    datasheet = datasheet_build(version, project, read)
    datasheet_bytes = orjson.dumps(datasheet, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    members = [(out.name, out.raw.member()) for out in outs.values()]
    extras = []
    for name, body in sorted(fmt.extra_files(datasheet=datasheet, splits=sorted(outs)).items()):
        path = os.path.join(tmp, "extra__" + name.replace("/", "__"))
        with open(path, "wb") as fh:
            fh.write(body)
        members.append((name, _Member.deflated(body)))
        extras.append((name, path, body))
    sheet_path = os.path.join(tmp, DATASHEET)
    with open(sheet_path, "wb") as fh:
        fh.write(datasheet_bytes)
    members += [(DATASHEET, _Member.deflated(datasheet_bytes)), (MANIFEST, manifest.raw.member())]
    # The bundle is assembled from the members made while the files were
    # written, on a thread while they are stored and reconciled (file I/O
    # releases the GIL).
    zipping = _Background(lambda: _bundle(tmp, members))
    try:
        for out in [*outs.values(), manifest]:
            _store(version, out.name, out.path)
        _reconcile(version, fmt, outs, manifest)
        extra_entries = []
        for name, path, body in extras:
            _store(version, name, path)
            extra_entries.append(
                {"name": name, "kind": "extra", "size": len(body),
                 "sha256": hashlib.sha256(body).hexdigest()}
            )  # fmt: skip
        _store(version, DATASHEET, sheet_path)
    except BaseException:
        zipping.join()  # the temporary folder goes once the zip lets go of it
        raise
    bundle, bundle_size, bundle_sha = zipping.result()
    _store(version, BUNDLE, bundle)
    sheet_sha = hashlib.sha256(datasheet_bytes).hexdigest()
    files = [
        *data_files,
        *extra_entries,
        {"name": MANIFEST, "kind": "manifest", "size": manifest.raw.size,
         "sha256": manifest.raw.sha.hexdigest()},
        {"name": DATASHEET, "kind": "datasheet", "size": len(datasheet_bytes), "sha256": sheet_sha},
        {"name": BUNDLE, "kind": "zip", "size": bundle_size, "sha256": bundle_sha},
    ]  # fmt: skip
    sha = version_sha256(data_files)
    with transaction.atomic():
        updated = DatasetVersion.objects.filter(pk=version.pk, succeeded_at__isnull=True).update(
            succeeded_at=timezone.now(),
            records=read.records,
            counts=_counts(read),
            sha256=sha,
            datasheet=datasheet,
            datasheet_sha256=sheet_sha,
            files=files,
        )
        if updated != 1:
            raise JobFailed("The dataset version was already written.")
        ctx.succeed(
            {"version": version.pk, "records": read.records, "sha256": sha,
             "splits": dict(sorted(read.splits.items()))},
            done=read.records,
        )  # fmt: skip


# --- reading versions ------------------------------------------------------------------


def _manifest_lines(version: DatasetVersion) -> Iterator[dict]:
    with default_storage.open(version.folder + MANIFEST, "rb") as stored:
        for line in _plain(stored):
            if line.strip():
                yield orjson.loads(line)


COMPARE_SAMPLE = 100


def manifest_compare(a: DatasetVersion, b: DatasetVersion) -> dict:
    """What changed from version ``a`` to ``b``: records added, removed,
    relabelled (label or value changed) and moved to another split (never,
    if splits are stable). A merge over the two manifests, both sorted by
    item, read line by line: memory stays flat in the size of the versions."""
    kinds = ("added", "removed", "relabelled", "moved_split")
    counts = dict.fromkeys(kinds, 0)
    samples: dict[str, list[int]] = {k: [] for k in kinds}
    unchanged = 0

    def note(kind: str, item: int) -> None:
        counts[kind] += 1
        if len(samples[kind]) < COMPARE_SAMPLE:
            samples[kind].append(item)

    left, right = _manifest_lines(a), _manifest_lines(b)
    x, y = next(left, None), next(right, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x["item"] < y["item"]):
            note("removed", x["item"])
            x = next(left, None)
        elif x is None or y["item"] < x["item"]:
            note("added", y["item"])
            y = next(right, None)
        else:
            changed = False
            if x["label"] != y["label"]:
                note("relabelled", x["item"])
                changed = True
            if x["split"] != y["split"] and UNSPLIT not in (x["split"], y["split"]):
                note("moved_split", x["item"])
                changed = True
            unchanged += not changed
            x, y = next(left, None), next(right, None)
    return {
        "from": a.pk,
        "to": b.pk,
        "unchanged": unchanged,
        "counts": counts,
        "items": samples,
        "sample_size": COMPARE_SAMPLE,
    }


def open_version_file(version: DatasetVersion, name: str) -> BinaryIO:
    return default_storage.open(version.folder + name, "rb")
