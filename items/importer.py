"""Item import at the speed of the database.

The request stores the uploaded bytes in Django's storage and queues a job
(``import_start``); the worker (``import_run``), in one transaction that
also marks the job succeeded:

1. reads the file in a second thread — a streaming parser (JSONL, a JSON
   array through ijson, CSV/TSV), validation through the task type, the
   canonical JSON and its hash — and hands over chunks of valid rows, so
   memory stays bounded whatever the file size;
2. reads the project's content hashes and external ids once, in one pass,
   into compact sorted arrays (``items.keys``); checks each chunk
   against them and against what the file brought before — duplicates,
   conflicts, updates — and COPYs the new rows straight into the item table
   while the reader thread parses the next chunk;
3. at the end, if any line was bad and the import is not partial, rolls
   everything back and reports the bad lines; otherwise commits.

Writers of one project's items are serialised by an advisory lock
(``items.locks``). A worker killed anywhere before the commit leaves no
item behind and the job not done; the redelivered task starts again from
the stored file, so the retried job gives exactly the expected rows
(SECURITY.md F2, F9, E6).

That is PostgreSQL. On SQLite (the embedded mode) step 2 writes the rows,
invisible, in many short transactions and a last one publishes them: see
items/staging.py. The parsers and their limits are in items/parsing.py, the reader thread in items/reading.py, classifying and writing rows in items/writing.py.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from typing import IO

from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

import tasktypes
from accord.sql import dialect
from projects.counters import counter_add
from projects.jobs import JobCancelled, JobContext, JobFailed, job_create, job_enqueue
from projects.models import Job, Project, QueueOrder
from projects.services import project_config

from . import hooks
from .keys import KeySet, project_keys
from .locks import lock_project_items
from .models import ItemState
from .parsing import FileError, ImportOptions
from .reading import RowReader
from .staging import publish_staged
from .writing import (
    Known,
    Tally,
    analyse_items,
    classify_chunk,
    insert_items,
    refuse_bad_file,
    update_items,
)

KIND = "import"

log = logging.getLogger(__name__)


# --- starting an import -----------------------------------------------------------


def import_start(
    *, project: Project, user, stream: IO[bytes], filename: str, options: ImportOptions
) -> Job:
    """Store the file, create the job and queue it once this transaction commits."""

    name = default_storage.save(
        f"imports/{project.pk}/{uuid.uuid4().hex}.{options.format}", File(stream)
    )
    with transaction.atomic():
        job = job_create(
            project=project,
            kind=KIND,
            user=user,
            params={"file": name, "filename": filename[:200], "options": asdict(options)},
        )
        job_enqueue(job)
    return job


def import_run(ctx: JobContext) -> None:
    """The worker's side of an import (see the module docstring)."""
    name = ctx.job.params["file"]
    try:
        _import(ctx, name)
    except (JobFailed, JobCancelled):
        # A finished job keeps no upload. (A killed worker never gets here:
        # its retry needs the file.)
        default_storage.delete(name)
        raise
    default_storage.delete(name)


def import_discard_upload(job_id: int) -> None:
    """Remove the job's upload once the job is finished for good, however
    it ended (an internal error, a cancel before it ran, too many attempts
    included). A job still running — elsewhere, or to be taken up again
    after its worker died — keeps it: its retry reads it."""
    job = Job.objects.filter(pk=job_id).only("status", "params").first()
    if job is not None and job.is_finished and job.params.get("file"):
        default_storage.delete(job.params["file"])


def _import(ctx: JobContext, name: str) -> None:
    project = Project.objects.get(pk=ctx.job.project_id)
    options = ImportOptions(**ctx.job.params["options"])
    task_type = tasktypes.get(project.task_type)
    config = project_config(project).config
    size = default_storage.size(name)
    with default_storage.open(name, "rb") as stream:
        reader = RowReader(stream, options, task_type, config)
        reader.start()
        try:
            _publish(ctx, project, options, reader, size)
        finally:
            reader.stop()


def _publish(
    ctx: JobContext, project: Project, options: ImportOptions, reader: RowReader, size: int
) -> None:
    if dialect().single_writer:
        publish_staged(ctx, project, options, reader, size)
        return
    tally = Tally()
    now = timezone.now()
    report = reader.report
    with transaction.atomic():
        lock_project_items(project.pk)
        hashes, ids = project_keys(project.pk)
        known = Known(hashes=hashes, ids=ids, file_ids=KeySet())
        try:
            for chunk in reader:
                # After a bad line a strict import will be rolled back: keep
                # reading only to report every bad line.
                if not report.bad or options.partial:
                    new, updates = classify_chunk(chunk, options.on_conflict, known, tally)
                    insert_items(project, new, now)
                    tally.created += len(new)
                    tally.updated += update_items(project.pk, updates)
                ctx.progress(reader.bytes_read, size)
        except FileError as exc:
            raise JobFailed(str(exc), {"created": 0, "file_error": str(exc)}) from None
        ctx.progress(reader.bytes_read, size, force=True)
        base = refuse_bad_file(report, options)
        counter_add(project.pk, "items:total", tally.created)
        counter_add(project.pk, f"items:{ItemState.OPEN}", tally.created)
        if tally.created and project.queue_order != QueueOrder.IMPORT:
            # New items may sort before where annotators' cursors are.
            hooks.queue_reordered.send(project=project, rerank=False)
        ctx.succeed(
            {
                **base,
                "created": tally.created,
                "updated": tally.updated,
                "duplicates": tally.duplicates,
                "conflicts": tally.conflicts,
                "conflict_lines": tally.conflict_lines,
            }
        )
    analyse_items(tally.created)


# An import of at least this many items is followed by ANALYZE of the item
# table, as is any import into a table never analysed: the queue's own
# statements keep their plans without statistics (annotation/queue/), the
# item list, search and exports plan better with them, and autovacuum comes
# by only a minute or more later. ANALYZE reads a fixed-size sample (a few
# tenths of a second at a million items).
