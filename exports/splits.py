"""Stable, stratified, grouped splits, assigned in one SQL statement.

An item's split is assigned once — at the first export with a split spec
that selects it — stored on ``Item.split`` and never changed, so a test item
of version 1 is never a training item of version 2 (DESIGN.md, "Export").

How an item without a split gets one:

* Its **group key** is ``meta[group_by]`` when the export groups and the item
  has that field, else its content hash (every item its own group). A group
  that already has an assigned item takes that item's split (the one with the
  lowest id): groups never straddle splits.
* New groups are **stratified** by the gold label of their first item (for
  multi-label the sorted label set): within each label bucket they are
  ordered by ``md5(project salt : group key)`` — a per-project random order
  that no later export changes — and the group at position p (counting on
  from the bucket's already assigned items, so that small later batches keep
  the shares too) takes the split whose cumulative-share interval holds
  ``frac(p × φ)``, φ the golden ratio's fractional part. That sequence spreads
  any run of consecutive positions evenly over [0, 1), so each bucket's split
  shares follow the spec within an item or two, whatever the bucket's size.
* A later spec may change the ratios (they apply to newly assigned items)
  but not the names: items cannot move (``splits_check_names``).
"""

from __future__ import annotations

import math
import re

from django.db import connection

from accord.errors import InvalidInput
from annotation.models import Item
from projects.models import Project

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MAX_SPLITS = 10
TOLERANCE = 1e-9
# The fractional part of the golden ratio: the low-discrepancy step.
PHI = (math.sqrt(5) - 1) / 2
UNSPLIT = "all"


def split_spec_parse(raw, *, field: str = "splits") -> dict[str, float] | None:
    """A spec {name: share} with shares >= 0 summing to 1, names sorted; None
    for no spec. InvalidInput names the problem."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput("must be an object of split names and shares, or null", field=field)
    if len(raw) > MAX_SPLITS:
        raise InvalidInput(f"at most {MAX_SPLITS} splits", field=field)
    errors = []
    spec: dict[str, float] = {}
    for name in sorted(raw, key=str):
        share = raw[name]
        if not isinstance(name, str) or not NAME.match(name) or name == UNSPLIT:
            errors.append(
                {
                    "field": f"{field}.{str(name)[:40]}",
                    "reason": 'a split name is lowercase letters, digits, "_" or "-" '
                    '(at most 40), starting with a letter, and not "all"',
                }
            )
            continue
        if (
            isinstance(share, bool)
            or not isinstance(share, int | float)
            or not math.isfinite(share)
        ):
            errors.append({"field": f"{field}.{name}", "reason": "must be a number"})
            continue
        if share < 0:
            errors.append({"field": f"{field}.{name}", "reason": "must not be negative"})
            continue
        spec[name] = float(share)
    if errors:
        raise InvalidInput(errors)
    total = math.fsum(spec.values())
    if abs(total - 1) > TOLERANCE:
        raise InvalidInput(f"the shares must sum to 1 (they sum to {total:.12g})", field=field)
    return spec


def splits_check_names(project: Project, spec: dict[str, float] | None) -> None:
    """A project's split names are those of its first split export."""
    if spec is None or not project.split_names:
        return
    if sorted(spec) != sorted(project.split_names):
        raise InvalidInput(
            f"this project's splits are {', '.join(sorted(project.split_names))}: items keep "
            "the split they were given, so a later export can change the shares but not the names",
            field="splits",
        )


def _choose_sql(spec: dict[str, float]) -> tuple[str, list]:
    """CASE over the cumulative shares of the sorted split names."""
    parts, params, cumulative = [], [], 0.0
    names = sorted(spec)
    for name in names[:-1]:
        cumulative += spec[name]
        parts.append("WHEN r.u < %s THEN %s")
        params += [cumulative, name]
    return f"CASE {' '.join(parts)} ELSE %s END", [*params, names[-1]]


def splits_assign(
    *,
    project: Project,
    spec: dict[str, float],
    group_by: str | None,
    selection_sql: str,
    selection_params: list,
) -> int:
    """Give every item of the selection that has no split one, in one
    ``UPDATE … FROM`` (see the module docstring). ``selection_sql`` yields
    (item_id, bucket) for the export's records. Returns how many were set.

    The caller serialises assignments per project (two exports assigning
    the same items at once would race) and runs this in the export's
    snapshot transaction, so the snapshot sees the splits it set."""
    table = Item._meta.db_table
    if group_by is not None:
        key = "COALESCE(i.meta ->> %s, i.content_hash)"
        key_params = [group_by]
        # Groups that already have a split anywhere in the project.
        taken = (
            f"SELECT DISTINCT ON (t.gkey) t.gkey, t.split FROM (SELECT COALESCE(i.meta ->> %s, "  # noqa: S608
            f"i.content_hash) AS gkey, i.split, i.id FROM {table} i WHERE i.project_id = %s "
            "AND i.split <> '' AND i.meta ? %s) t ORDER BY t.gkey, t.id"
        )
        taken_params = [group_by, project.pk, group_by]
    else:
        key, key_params = "i.content_hash", []
        taken, taken_params = "SELECT NULL::text AS gkey, NULL::text AS split WHERE FALSE", []
    choose, choose_params = _choose_sql(spec)
    sql = f"""
    WITH sel AS ({selection_sql}),
    items AS (
        SELECT i.id, s.bucket, i.split, {key} AS gkey
        FROM sel s JOIN {table} i ON i.id = s.item_id
    ),
    taken AS ({taken}),
    need AS (SELECT id, bucket, gkey FROM items WHERE split = ''),
    groups AS (
        SELECT DISTINCT ON (n.gkey) n.gkey, n.bucket FROM need n
        WHERE NOT EXISTS (SELECT 1 FROM taken t WHERE t.gkey = n.gkey)
        ORDER BY n.gkey, n.id
    ),
    base AS (SELECT bucket, count(*) AS n FROM items WHERE split <> '' GROUP BY bucket),
    ranked AS (
        SELECT g.gkey, COALESCE(b.n, 0) + row_number() OVER (
            PARTITION BY g.bucket ORDER BY md5(%s || ':' || g.gkey), g.gkey) AS pos
        FROM groups g LEFT JOIN base b ON b.bucket = g.bucket
    ),
    chosen AS (
        SELECT r.gkey, {choose} AS split
        FROM (SELECT gkey, (pos * %s) - floor(pos * %s) AS u FROM ranked) r
        UNION ALL SELECT gkey, split FROM taken
    )
    UPDATE {table} i SET split = c.split
    FROM need n JOIN chosen c ON c.gkey = n.gkey
    WHERE i.id = n.id AND i.split = ''
    """  # noqa: S608 - table names and CASE are ours; values are parameters
    params = [
        *selection_params,
        *key_params,
        *taken_params,
        project.split_salt,
        *choose_params,
        PHI,
        PHI,
    ]
    with connection.cursor() as cursor:
        # Once every selected item has its split (every export after the
        # first), a scan that stops at the first unassigned item is all the
        # work: the statement below would rank every item for nothing.
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM ({selection_sql}) s JOIN {table} i "  # noqa: S608
            "ON i.id = s.item_id WHERE i.split = '')",
            selection_params,
        )
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(sql, params)
        return cursor.rowcount
