"""The export job: reads the gold at a snapshot and writes the version.

``export_run`` reads the gold at a snapshot (one REPEATABLE READ
transaction; on SQLite, the embedded mode, one read transaction in WAL
mode), assigns missing splits in the same snapshot, streams the records in
item order from a server-side cursor (SQLite: in chunks) — rows read in
chunks, no ORM instance per row; when the provenance is needed, the
submitted annotations come from a second cursor in the same order and are
merged in — through the format's writers into local files hashed as they
are written, with a manifest line per record. It then stores the files,
reconciles them against the manifest and the database count (a mismatch
fails the job, E5), writes the datasheet and marks the version succeeded in
the job's final transaction (F6). A worker killed before that leaves the
version unfinished; the redelivered job starts over and overwrites the
files (F2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from django.db import connection, transaction
from django.utils import timezone

import tasktypes
from accord.sql import LockNamespace, dialect
from projects.jobs import JobContext, JobFailed
from projects.models import Project
from projects.services import project_config

from . import formats
from .bundle import (
    MANIFEST,
    Out,
    data_name,
    label_of,
    out_open,
    version_files_store,
    work_folder,
    work_folders_sweep,
)
from .datasheet import Ratings, Read, datasheet_build, read_counts
from .formats.base import ExportOptions, GoldRow
from .models import DatasetVersion
from .query import (
    ANNOTATION,
    ASSIGNMENT,
    AnnotationsByItem,
    Selection,
    annotations_sql,
    meta_columns_read,
    records_selection,
    records_sql,
)
from .splits import UNSPLIT, splits_assign, splits_groups, splits_refusals

# Rows fetched at a time, from each of the job's cursors.
CHUNK = 5_000
# Sorts and hashes of the split assignment and the read stay in memory at a
# million items (the default 4 MB spills them to disk); local to the export's
# transaction.
WORK_MEM = "64MB"
SPLIT_LOCK = int(LockNamespace.SPLITS)
SERIALIZATION_RETRIES = 3


# --- the read: one pass over the snapshot ---------------------------------------------


def _snapshot_read(ctx: JobContext, version, project, fmt, outs, manifest, tmp) -> Read:
    """Assign missing splits, count, stream and write: all in one snapshot."""
    params = version.params
    selected = records_selection(project, params, raw=fmt.raw)
    read = Read()
    dialect().bulk_read_settings(WORK_MEM)
    streams_annotations = ExportOptions(**params["options"]).provenance or fmt.raw
    read.total, read.assigned = _records_count(project, params, selected)
    if not streams_annotations:
        # Else the annotations come with the rows (the same ones: submitted,
        # of the selected items), and the agreement is gathered from them.
        _ratings_read(read.ratings, selected)
    options = _writers_options(fmt, params, selected)
    ctx.progress(0, read.total, force=True)
    _writers_open(outs, tmp, project, fmt, params, options)
    writing = _RecordsWriting(outs=outs, manifest=manifest, read=read, unsplit=not params["splits"])
    _records_stream(ctx, writing, project, fmt, selected, annotations=streams_annotations)
    _read_tally(read, outs, writing.tally)
    _read_check(read, project, params, selected)
    return read


def _records_count(project: Project, params: dict, selected: Selection) -> tuple[int, int]:
    """How many records the snapshot holds, and how many of their items
    were given their split now."""
    spec = params["splits"]
    if spec:
        # The records are counted in the scan that looks for missing splits.
        return splits_assign(
            project=project,
            spec=spec,
            group_by=params["group_by"],
            selection=selected.sql,
            selection_params=selected.params,
            selected_ids=selected.ids,
            bucket_sql=dialect().gold_bucket,
        )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({selected.ids}) sel", selected.params)  # noqa: S608
        return cursor.fetchone()[0], 0


def _ratings_read(ratings: Ratings, selected: Selection) -> None:
    """The submitted annotations of the selected items, in item order, into
    ``ratings``: a stream of narrow rows, fetched before the records'."""
    sql = dialect()
    cursor = connection.chunked_cursor()
    chunks = None
    try:
        cursor.execute(
            f"SELECT n.item_id, n.annotator_id, {sql.json_text('n.value')} FROM {ANNOTATION} n "  # noqa: S608
            f"JOIN {ASSIGNMENT} a ON a.id = n.assignment_id AND a.state = 'submitted' "
            f"WHERE n.item_id IN ({selected.ids}) ORDER BY n.item_id, n.id",
            selected.params,
        )
        chunks = sql.chunks(cursor, CHUNK)
        for rows in chunks:
            ratings.add_rows(rows)
        ratings.flush()
    finally:
        if chunks is not None:
            chunks.close()
        cursor.close()


def _writers_options(fmt, params: dict, selected: Selection) -> ExportOptions:
    """The request's options, with a flat format's metadata columns."""
    options = ExportOptions(**params["options"])
    if fmt.flat_meta and options.include_meta:
        options = dataclasses.replace(options, meta_columns=meta_columns_read(selected))
    return options


def _writers_open(outs, tmp: str, project: Project, fmt, params: dict, options) -> None:
    """A data file and the format's writer for each split (or "all")."""
    config = project_config(project)
    task_type = tasktypes.get(config.task_type)
    for name in sorted(params["splits"] or [UNSPLIT]):
        out = outs[name] = out_open(
            tmp, data_name(fmt, name), split=name, deflate=not fmt.compressed
        )
        out.writer = fmt.writer(
            out.stream, task_type=task_type, config=config.config, options=options
        )


@dataclass
class _RecordsWriting:
    """The records' way to the files: each row to its split's writer, its
    manifest line, and what the datasheet counts."""

    outs: dict[str, Out]
    manifest: Out
    read: Read
    unsplit: bool
    # The submitted annotations of an item, when the provenance streams them.
    annotations_of: Callable[[int], list[dict]] | None = None
    # One counter per row, split into the datasheet's tallies at the end.
    tally: Counter = field(default_factory=Counter)

    def chunk_write(self, rows: list[tuple]) -> None:
        """Write a chunk of ``records_sql`` rows, in item order. One loop
        over the rows, in this one function: the per-row cost is the
        export's speed."""
        loads, dumps = orjson.loads, orjson.dumps
        outs, read, tally, unsplit = self.outs, self.read, self.tally, self.unsplit
        annotations_of = self.annotations_of
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
        self.manifest.stream.write(b"".join(lines))
        for out in outs.values():
            out.ids_flush()
        read.records += len(rows)


def _records_stream(
    ctx: JobContext, writing: _RecordsWriting, project: Project, fmt, selected: Selection,
    *, annotations: bool,
) -> None:  # fmt: skip
    """Stream the records in item order through ``writing``, with (when
    ``annotations``) the submitted annotations from a second cursor in the
    same order."""
    sql = dialect()
    read = writing.read
    cursor = connection.chunked_cursor()
    chunks = None
    annotation_cursor = connection.chunked_cursor() if annotations else None
    annotation_chunks = None
    try:
        cursor.execute(records_sql(selected.sql, history=fmt.raw), selected.params)
        chunks = sql.chunks(cursor, CHUNK)
        if annotation_cursor is not None:
            annotation_cursor.execute(annotations_sql(), [project.pk])
            annotation_chunks = sql.chunks(annotation_cursor, CHUNK)
            writing.annotations_of = AnnotationsByItem(annotation_chunks, read.ratings).take
        for rows in chunks:
            writing.chunk_write(rows)
            ctx.progress(read.records, read.total)
    finally:
        # Each stops its fetching thread before its cursor closes.
        for stream in (chunks, annotation_chunks):
            if stream is not None:
                stream.close()
        cursor.close()
        if annotation_cursor is not None:
            annotation_cursor.close()


def _read_tally(read: Read, outs: dict[str, Out], tally: Counter) -> None:
    """The datasheet's counts, from the rows' one counter."""
    read.annotators = sorted(read.ratings.annotators)
    for name, out in outs.items():
        read.splits[name] = out.rows
        read.by_split[name] = Counter()
    for (split, label, source, excluded), n in tally.items():
        read.labels[label] += n
        read.by_split[split][label] += n
        read.sources[source] += n
        read.excluded += n if excluded else 0


def _read_check(read: Read, project: Project, params: dict, selected: Selection) -> None:
    """Fail the job when the read is not what the database holds (E5), or
    when the splits it assigned leave a named split empty for good."""
    if read.records != read.total:
        raise JobFailed(
            f"The export read {read.records} records but the database holds {read.total} "
            "for these filters at the snapshot."
        )
    spec = params["splits"]
    if read.assigned and any(share > 0 and not read.splits[n] for n, share in spec.items()):
        # The request was checked (export_start), but gold may have changed
        # since: failing here rolls the assignment back with the snapshot.
        refused = splits_refusals(
            project=project, spec=spec, group_by=params["group_by"], records=dict(read.splits),
            groups=splits_groups(group_by=params["group_by"], selection=selected.sql,
                                 selection_params=selected.params),
            new=read.assigned,
        )  # fmt: skip
        if refused:
            raise JobFailed("; ".join(error["reason"] for error in refused) + ".")


def _snapshot(ctx, version, project, fmt, tmp) -> tuple[Read, dict[str, Out], Out]:
    """Run the read in one transaction that sees one snapshot (the dialect's
    ``snapshot``: REPEATABLE READ on PostgreSQL, retried when a concurrent
    write to the same items makes PostgreSQL refuse it; one read
    transaction on SQLite, WAL). It writes only when it assigns splits."""
    sql = dialect()
    for attempt in range(SERIALIZATION_RETRIES):
        outs: dict[str, Out] = {}
        manifest = out_open(tmp, MANIFEST)
        try:
            with sql.snapshot(writes=bool(version.params["splits"])):
                read = _snapshot_read(ctx, version, project, fmt, outs, manifest, tmp)
            for out in outs.values():
                out.close()
            manifest.close()
            return read, outs, manifest
        except BaseException as exc:
            # Closed on every failure: each file's hashing thread ends with it.
            for out in [*outs.values(), manifest]:
                with contextlib.suppress(Exception):  # the failure to report is exc
                    out.stream.close()
            if not sql.is_serialization_failure(exc) or attempt == SERIALIZATION_RETRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


# --- the job ----------------------------------------------------------------------------


def export_run(ctx: JobContext) -> None:
    """The job's work; see the module docstring. Safe to run again from the
    start: it rewrites every file and only the last transaction marks the
    version done."""
    version = DatasetVersion.objects.select_related("project").get(pk=ctx.params["version"])
    project = version.project
    fmt = formats.get(version.format)
    # The side connection exists on PostgreSQL only (projects.jobs); SQLite
    # has one writer at a time, so assignments are serialised already.
    locked = ctx.side.conn is not None
    if locked:
        # Split assignment per project one at a time; on the job's side
        # connection, so a killed worker's lock goes with its session.
        ctx.side.execute("SELECT pg_advisory_lock(%s, %s)", [SPLIT_LOCK, project.pk])
    try:
        work_folders_sweep()
        # This attempt holds the job's lock: whatever is in its folder was
        # left by an attempt that died.
        tmp = work_folder(ctx.job.pk)
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


def _finish(ctx, version, project, fmt, tmp, read, outs, manifest) -> None:
    """Store and reconcile the files, then mark the version succeeded in
    the job's final transaction (F6)."""
    project.refresh_from_db()
    datasheet = datasheet_build(version, project, read)
    datasheet_bytes = orjson.dumps(datasheet, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    stored = version_files_store(
        version=version, fmt=fmt, tmp=tmp, outs=outs, manifest=manifest,
        datasheet=datasheet, datasheet_bytes=datasheet_bytes,
    )  # fmt: skip
    with transaction.atomic():
        updated = DatasetVersion.objects.filter(pk=version.pk, succeeded_at__isnull=True).update(
            succeeded_at=timezone.now(),
            records=read.records,
            counts=read_counts(read),
            sha256=stored.sha256,
            datasheet=datasheet,
            datasheet_sha256=stored.datasheet_sha256,
            files=stored.files,
        )
        if updated != 1:
            raise JobFailed("The dataset version was already written.")
        ctx.succeed(
            {"version": version.pk, "records": read.records, "sha256": stored.sha256,
             "splits": dict(sorted(read.splits.items()))},
            done=read.records,
        )  # fmt: skip
