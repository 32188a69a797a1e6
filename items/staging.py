"""The embedded mode's import (SQLite): staged rows, written in short
transactions and published in one."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator

from django.db import connection, transaction
from django.utils import timezone

from projects.counters import counter_add
from projects.jobs import JobCancelled, JobContext, JobFailed
from projects.models import Job, Project, QueueOrder

from . import hooks
from .keys import KeySet, project_keys
from .locks import STAGING_STALE, job_alive, staging_holder
from .models import STAGED, ImportStaging, Item, ItemState, StagedUpdate
from .parsing import FileError, ImportOptions, StagedRow
from .ranks import item_rank
from .reading import RowReader
from .writing import Known, Tally, classify_chunk, insert_items, refuse_bad_file

# --- staging (embedded mode) -------------------------------------------------------------
#
# SQLite has one writer at a time: an import in one transaction held the
# write lock for its whole length, so every claim and submit in every project
# waited for it, and its progress (written between transactions) never moved.
# There the import writes in short transactions instead: its rows go into the
# item table in state STAGED (invisible: the queue takes only 'open' items,
# Item.objects leaves staged rows out, counters move only at publication),
# STAGE_ROWS at a time (about 60 ms of lock), and after each transaction it
# leaves the lock free for at least PAUSE_SECONDS: SQLite keeps no queue of
# waiting writers, a claim that found the lock taken polls again after 1, 2,
# 5, 10, 15, 20, 25, 25 ms…, so a gap at least that long is one it finds.
# Progress and the cancel flag are written and read between transactions. One short transaction at the end publishes every staged row
# (state 'open') together with the counters, the updates and "succeeded".
# A failed or cancelled import removes its staged rows in short transactions
# before the job ends; a killed one leaves them to its retry, to the next
# import into the project, or to the hourly sweep (staging_sweep).
#
# The unique indexes hold staged rows too, so the item table still refuses a
# second copy of any content or external id, published or staged; the
# project's ImportStaging row keeps a second import (and items_create) out
# until the first has published, so the keys read at the start stay the
# whole truth.

log = logging.getLogger(__name__)

STAGE_ROWS = 1_000
REMOVE_ROWS = 2_000
# While the reader thread parses a chunk, look at the cancel flag this often.
TICK_SECONDS = 0.25
WAIT_SECONDS = 0.5
PAUSE_SECONDS = 0.025


def _pause(held: float) -> None:
    """Leave the write lock free for other writers (see above); for a third
    of the time at least, should a transaction have taken longer."""
    time.sleep(max(PAUSE_SECONDS, held / 2))


def _chunks_ticking(reader: RowReader) -> Iterator[list[StagedRow] | None]:
    """The reader's chunks, with a None whenever none came for TICK_SECONDS."""
    while True:
        try:
            chunk = reader.chunks.get(timeout=TICK_SECONDS)
        except queue.Empty:
            yield None
            continue
        if chunk is None:
            break
        yield chunk
    if reader.error is not None:
        raise reader.error


def _remove_staged(project_id: int, allowed, job_ids: list[int]) -> bool:
    """Delete the project's staged rows and ``job_ids``' staged updates, a
    batch per transaction, while ``allowed()`` holds in it; False if it
    stopped because it no longer held."""
    while True:
        started = time.monotonic()
        with transaction.atomic():
            if not allowed():
                return False
            with connection.cursor() as cursor:
                # 'staged' as a literal: SQLite uses a partial index only
                # for a condition it can see implies the index's own.
                cursor.execute(
                    f"DELETE FROM {Item._meta.db_table} WHERE id IN (SELECT id FROM "  # noqa: S608
                    f"{Item._meta.db_table} WHERE project_id = %s AND state = 'staged' "
                    "ORDER BY id LIMIT %s)",
                    [project_id, REMOVE_ROWS],
                )
                removed = cursor.rowcount
            if job_ids:
                StagedUpdate.objects.filter(job_id__in=job_ids).delete()
                job_ids = []
        if removed < REMOVE_ROWS:
            return True
        _pause(time.monotonic() - started)


class Staging:
    """One import's hold on its project's items, and its staged rows."""

    def __init__(self, ctx: JobContext, project: Project):
        self.ctx, self.project, self.job_id = ctx, project, ctx.job.pk
        self.ordered_by = (project.queue_order, project.queue_seed)

    def holds(self) -> bool:
        return staging_holder(self.project.pk) == self.job_id

    def acquire(self, size: int) -> None:
        """Take the project's ImportStaging row, waiting (cancellable) while
        another live import has it; then remove whatever a dead holder (or
        an earlier attempt of this job) staged."""
        while True:
            with transaction.atomic():
                holder = staging_holder(self.project.pk)
                if holder is None or holder == self.job_id or not job_alive(holder):
                    ImportStaging.objects.update_or_create(
                        project_id=self.project.pk,
                        defaults={"job_id": self.job_id, "taken_at": timezone.now()},
                    )
                    break
            self.ctx.progress(0, size)
            time.sleep(WAIT_SECONDS)
        leftovers = [self.job_id] if holder in (None, self.job_id) else [holder, self.job_id]
        _remove_staged(self.project.pk, self.holds, leftovers)

    def _check_held(self) -> None:
        if not self.holds():
            raise JobFailed(
                "Another import of this project took over (this one stopped reporting for "
                f"{int(STAGING_STALE.total_seconds())} s); nothing of this one was published."
            )

    def write(self, new: list[StagedRow], updates: list[StagedRow], now) -> None:
        started = time.monotonic()
        with transaction.atomic():
            self._check_held()
            insert_items(self.project, new, now, state=STAGED)
            StagedUpdate.objects.bulk_create(
                StagedUpdate(
                    job_id=self.job_id,
                    line=r.line,
                    external_id=r.external_id,
                    data=r.data_json,
                    meta=r.meta_json,
                    content_hash=r.content_hash,
                )
                for r in updates
            )
        _pause(time.monotonic() - started)

    def discard(self) -> None:
        """Remove what this import staged and let go of the project (only
        while it still holds it: a taker removes the rest itself)."""
        if _remove_staged(self.project.pk, self.holds, [self.job_id]):
            ImportStaging.objects.filter(project_id=self.project.pk, job_id=self.job_id).delete()

    def publish(self, tally: Tally, base: dict) -> None:
        """Make every staged row an item, apply the updates, count them and
        mark the job succeeded: one transaction."""
        item = Item._meta.db_table
        with transaction.atomic():
            self._check_held()
            if Job.objects.filter(pk=self.job_id, cancel_requested=True).exists():
                raise JobCancelled
            project = Project.objects.get(pk=self.project.pk)
            reordered = (project.queue_order, project.queue_seed) != self.ordered_by
            if reordered:
                self._rerank(project)
            self._apply_updates(project.pk, tally)
            with connection.cursor() as cursor:
                # The project's overlap now, should a lead have changed it
                # while the import ran.
                cursor.execute(
                    f"UPDATE {item} SET state = 'open', overlap = %s, free_slots = %s "  # noqa: S608
                    "WHERE project_id = %s AND state = 'staged'",
                    [project.overlap, project.overlap, project.pk],
                )
                created = cursor.rowcount
            StagedUpdate.objects.filter(job_id=self.job_id).delete()
            ImportStaging.objects.filter(project_id=project.pk).delete()
            counter_add(project.pk, "items:total", created)
            counter_add(project.pk, f"items:{ItemState.OPEN}", created)
            if created and (reordered or project.queue_order != QueueOrder.IMPORT):
                hooks.queue_reordered.send(project=project, rerank=False)
            tally.conflict_lines.sort(key=lambda x: x["line"])
            self.ctx.succeed(
                {
                    **base,
                    "created": created,
                    "updated": tally.updated,
                    "duplicates": tally.duplicates,
                    "conflicts": tally.conflicts,
                    "conflict_lines": tally.conflict_lines,
                }
            )

    def _rerank(self, project: Project) -> None:
        """Ranks for the order the project has now (a requeue while the
        import ran saw only the published items)."""
        staged = Item._base_manager.filter(project_id=project.pk, state=STAGED)
        rows = [
            (item_rank(project, priority=0.0, content_hash=digest), pk)
            for pk, digest in staged.values_list("pk", "content_hash")
        ]
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {Item._meta.db_table} SET rank = %s WHERE id = %s",  # noqa: S608
                rows,
            )

    def _apply_updates(self, project_id: int, tally: Tally) -> None:
        """Replace the content of the items named by the staged updates that
        are still open and unannotated; the others became conflicts."""
        item, update = Item._meta.db_table, StagedUpdate._meta.db_table
        replaceable = f"i.state = 'open' AND NOT {hooks.annotated_sql(alias='i')}"
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT s.line, s.external_id FROM {update} s WHERE s.job_id = %s "  # noqa: S608
                f"AND NOT EXISTS (SELECT 1 FROM {item} i WHERE i.project_id = %s "
                f"AND i.external_id = s.external_id AND {replaceable}) ORDER BY s.line",
                [self.job_id, project_id],
            )
            for line, external_id in cursor.fetchall():
                tally.updated -= 1
                tally.conflict(StagedRow(line, external_id, "", "", ""))
            cursor.execute(
                f"UPDATE {item} AS i SET data = s.data, meta = s.meta, "  # noqa: S608
                f"content_hash = s.content_hash FROM {update} s WHERE s.job_id = %s "
                f"AND i.project_id = %s AND i.external_id = s.external_id AND {replaceable}",
                [self.job_id, project_id],
            )


def publish_staged(
    ctx: JobContext, project: Project, options: ImportOptions, reader: RowReader, size: int
) -> None:
    staging = Staging(ctx, project)
    staging.acquire(size)
    try:
        _stage(ctx, staging, options, reader, size)
    except BaseException:
        try:
            staging.discard()
        except Exception:
            # Its retry, the next import or the sweep removes the rest.
            log.exception("import %s could not remove its staged rows", ctx.job.pk)
        raise


def _stage(
    ctx: JobContext, staging: Staging, options: ImportOptions, reader: RowReader, size: int
) -> None:
    tally = Tally()
    now = timezone.now()
    report = reader.report
    hashes, ids = project_keys(staging.project.pk)
    known = Known(hashes=hashes, ids=ids, file_ids=KeySet())
    line = 0  # the last line written (or skipped)

    def written() -> int:
        # The reader runs chunks ahead, so its byte count would reach the
        # end long before the writing does: the bytes up to ``line``, at the
        # average length of the lines read so far.
        read, lines = reader.bytes_read, report.lines
        return min(read, line * read // lines) if lines else 0

    try:
        for chunk in _chunks_ticking(reader):
            # After a bad line a strict import will fail: keep reading only
            # to report every bad line.
            if chunk is not None and (not report.bad or options.partial):
                new, updates = classify_chunk(chunk, options.on_conflict, known, tally)
                tally.updated += len(updates)
                for start in range(0, max(len(new), len(updates)), STAGE_ROWS):
                    if report.bad and not options.partial:
                        break
                    end = start + STAGE_ROWS
                    staging.write(new[start:end], updates[start:end], now)
                    line = max(r.line for r in (*new[start:end][-1:], *updates[start:end][-1:]))
                    ctx.progress(written(), size)
            if chunk is not None:
                line = chunk[-1].line
            ctx.progress(written(), size)
    except FileError as exc:
        raise JobFailed(str(exc), {"created": 0, "file_error": str(exc)}) from None
    ctx.progress(reader.bytes_read, size, force=True)
    staging.publish(tally, refuse_bad_file(report, options))


def staging_sweep() -> int:
    """Remove what dead embedded-mode imports staged (hourly, beside the
    counters' recount): the rows of projects whose ImportStaging holder
    finished or went silent, or that have none. Returns the projects swept."""
    projects = set(
        Item._base_manager.filter(state=STAGED).values_list("project_id", flat=True).distinct()
    )
    projects |= set(ImportStaging.objects.values_list("project_id", flat=True))
    swept = 0
    for project_id in sorted(projects):
        holder = staging_holder(project_id)

        def dead(project_id=project_id, holder=holder) -> bool:
            now = staging_holder(project_id)
            return now is None or (now == holder and not job_alive(now))

        if not dead():
            continue
        if _remove_staged(project_id, dead, [holder] if holder else []):
            ImportStaging.objects.filter(project_id=project_id, job_id=holder).delete()
            swept += 1
    StagedUpdate.objects.filter(job__status__in=Job.FINISHED).delete()
    return swept
