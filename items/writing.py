"""Writing an import's rows: classifying each chunk against the project's
keys (new, duplicate, conflict, update), COPYing the new rows into the item
table, and the statistics a large import leaves for the planner."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db import connection

from accord.sql import dialect
from projects.jobs import JobFailed
from projects.models import Project

from .keys import KeySet, hash_keys, id_keys
from .models import Item, ItemState
from .parsing import MAX_REPORTED_LINES, ImportOptions, StagedRow
from .ranks import item_rank
from .reading import ReadReport

# --- publishing ---------------------------------------------------------------------------


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    conflicts: int = 0
    conflict_lines: list = field(default_factory=list)

    def conflict(self, row: StagedRow) -> None:
        self.conflicts += 1
        if len(self.conflict_lines) < MAX_REPORTED_LINES:
            self.conflict_lines.append({"line": row.line, "external_id": row.external_id})


@dataclass
class Known:
    """The keys an import compares rows with (see annotation.keys)."""

    hashes: KeySet  # content in the project or accepted from this file
    ids: KeySet  # external ids in the project, flagged when replaceable
    file_ids: KeySet  # external ids this file has used already


def classify_chunk(chunk: list[StagedRow], on_conflict: str, known: Known, tally: Tally):
    """Split a chunk into new rows and updates; count duplicates and
    conflicts; remember the accepted rows' keys for the chunks to come."""
    h_hi, h_lo = hash_keys([r.content_hash for r in chunk])
    stored_hash, _ = known.hashes.find(h_hi, h_lo)
    with_id = [n for n, r in enumerate(chunk) if r.external_id is not None]
    i_hi, i_lo = id_keys(chunk[n].external_id for n in with_id)
    stored_id, replaceable = known.ids.find(i_hi, i_lo)
    used_id, _ = known.file_ids.find(i_hi, i_lo)
    id_state = {
        n: (bool(s), bool(r), bool(u))
        for n, s, r, u in zip(with_id, stored_id, replaceable, used_id, strict=True)
    }
    seen_hashes: set[str] = set()
    seen_ids: set[str] = set()
    new: list[StagedRow] = []
    updates: list[StagedRow] = []
    accepted: list[int] = []
    for n, row in enumerate(chunk):
        if stored_hash[n] or row.content_hash in seen_hashes:
            tally.duplicates += 1
            continue
        if row.external_id is not None:
            stored, may_replace, used = id_state[n]
            if used or row.external_id in seen_ids:
                tally.conflict(row)  # the same id twice in the file, other content
                continue
            if stored:
                if on_conflict == "update" and may_replace:
                    updates.append(row)
                else:
                    tally.conflict(row)
                    continue
            else:
                new.append(row)
            seen_ids.add(row.external_id)
        else:
            new.append(row)
        seen_hashes.add(row.content_hash)
        accepted.append(n)
    taken = np.array(accepted, dtype=np.intp)
    known.hashes.add(h_hi[taken], h_lo[taken])
    position = {n: k for k, n in enumerate(with_id)}
    taken_ids = np.array([position[n] for n in accepted if n in position], dtype=np.intp)
    known.file_ids.add(i_hi[taken_ids], i_lo[taken_ids])
    return new, updates


ITEM_COLUMNS = (
    "project_id, external_id, data, meta, content_hash, state, priority, rank, overlap, "
    "free_slots, outcome, created_at"
)


def insert_items(
    project: Project, rows: list[StagedRow], now, state: str = ItemState.OPEN.value
) -> None:
    project_id, overlap = project.pk, project.overlap
    values = (
        (
            project_id,
            r.external_id,
            r.data_json,
            r.meta_json,
            r.content_hash,
            state,
            0.0,
            item_rank(project, priority=0.0, content_hash=r.content_hash),
            overlap,
            overlap,
            "",
            now,
        )
        for r in rows
    )
    if dialect().copy_in:
        # COPY is the fastest way in; the JSON text goes straight into jsonb.
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY annotation_item ({ITEM_COLUMNS}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO annotation_item ({ITEM_COLUMNS}) VALUES ({', '.join(['%s'] * 12)})",  # noqa: S608
            list(values),
        )


def update_items(project_id: int, rows: list[StagedRow]) -> int:
    if not rows:
        return 0
    cast = dialect().jsonb_cast
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE annotation_item SET data = %s{cast}, meta = %s{cast}, content_hash = %s "  # noqa: S608
            "WHERE project_id = %s AND external_id = %s",
            [(r.data_json, r.meta_json, r.content_hash, project_id, r.external_id) for r in rows],
        )
    return len(rows)


ANALYZE_AFTER = 1_000


def analyse_items(created: int) -> None:
    """ANALYZE the item table after the import committed (PostgreSQL)."""
    if created == 0:
        return
    table = Item._meta.db_table
    with connection.cursor() as cursor:
        if created < ANALYZE_AFTER:
            cursor.execute(
                "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL "
                "FROM pg_stat_user_tables WHERE relid = %s::regclass",
                [table],
            )
            row = cursor.fetchone()
            if row is not None and not row[0]:
                return
        cursor.execute(f"ANALYZE {table}")  # noqa: S608 - our table


def refuse_bad_file(report: ReadReport, options: ImportOptions) -> dict:
    """The read's part of the result; JobFailed if nothing may be imported."""
    base = {"lines": report.lines, "bad": report.bad, "bad_lines": report.bad_lines}
    if report.lines == 0:
        raise JobFailed("The file holds no items.", {"created": 0, "lines": 0})
    if report.bad and not options.partial:
        noun = "line is" if report.bad == 1 else "lines are"
        raise JobFailed(
            f"{report.bad} {noun} bad, so nothing was imported; fix them, or import again allowing a partial import (partial=true in the API).",
            {**base, "created": 0, "duplicates": 0, "conflicts": 0, "updated": 0},
        )
    return base
