"""Stable, stratified, grouped splits, assigned in one SQL statement.

An item's split is assigned once — at the first export with a split spec
that selects it — stored in the item's ``ItemSplit`` row (the item is its
primary key) and never changed, so a test item of version 1 is never a
training item of version 2 (DESIGN.md, "Export"). Assigning is one
``INSERT … SELECT`` of narrow rows, on PostgreSQL and on SQLite alike.

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

Two new groups whose hashes are equal (never seen) are ordered by group key,
or by item id when ungrouped. Both databases give the same splits for the
same data: the hash is md5's hex text, sorted as bytes (``COLLATE "C"`` on PostgreSQL, SQLite's default), the
positions and shares are the same doubles, and a group key read from
``meta`` is the text PostgreSQL's ``->>`` gives (SQLite's numbers and
booleans are made into that text).
"""

from __future__ import annotations

import math
import re

from django.db import connection
from django.db.models.fields.json import compile_json_path

from accord.errors import InvalidInput
from annotation.models import Item
from projects.models import Project

from .models import ItemSplit

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MAX_SPLITS = 10
TOLERANCE = 1e-9
# The fractional part of the golden ratio: the low-discrepancy step.
PHI = (math.sqrt(5) - 1) / 2
UNSPLIT = "all"
ITEM = Item._meta.db_table
SPLIT = ItemSplit._meta.db_table
# The export's record query reads the split of the row's item (aliased i),
# NULL before it has one, with a join: both sides come in item order, so
# PostgreSQL merges them (a lookup per row cost more).
SPLIT_JOIN = f"LEFT JOIN {SPLIT} sp ON sp.item_id = i.id"
SPLIT_COLUMN = "sp.split"


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


def _meta_sql(group_by: str) -> tuple[str, list]:
    """``meta[group_by]`` as text, NULL when absent or null, the same text on
    both databases for strings, whole numbers and booleans."""
    if connection.vendor == "postgresql":
        return "(i.meta ->> %s)", [group_by]
    # SQLite's json_extract gives numbers as numbers (3 would not equal "3")
    # and booleans as 1/0: made into PostgreSQL's ->> text.
    path = compile_json_path([group_by])
    return (
        "(CASE json_type(i.meta, %s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        "ELSE CAST(json_extract(i.meta, %s) AS TEXT) END)",
        [path, path],
    )


def _binary() -> str:
    # The hash, the bucket and a meta group key sort as bytes, as SQLite
    # compares them by default; PostgreSQL would otherwise go through the
    # database's collation (slower, and its order is the server's).
    return ' COLLATE "C"' if connection.vendor == "postgresql" else ""


def _groups_sql(*, grouped: bool) -> str:
    """CTE ``groups``: the new groups, each with the bucket and hash of its
    first item. An ungrouped item is its own group (its content hash is
    unique in the project)."""
    if not grouped:
        return "groups AS (SELECT item_id, bucket, h FROM need)"
    return (
        "groups AS (SELECT gkey, bucket, h FROM (SELECT n.gkey, n.bucket, n.h, row_number() "
        "OVER (PARTITION BY n.gkey ORDER BY n.item_id) AS k FROM need n WHERE NOT EXISTS "
        "(SELECT 1 FROM taken t WHERE t.gkey = n.gkey)) x WHERE k = 1)"
    )


def _taken_sql(
    project: Project, key: str, key_params: list, meta: str, meta_params: list
) -> tuple[str, list]:
    """CTE ``taken``: groups that already have a split anywhere in the
    project keep it (the split of their lowest item)."""
    return (
        f"taken AS (SELECT gkey, split FROM (SELECT t.gkey, t.split, row_number() OVER "  # noqa: S608
        f"(PARTITION BY t.gkey ORDER BY t.id) AS k FROM (SELECT i.id, {key} AS gkey, s.split "
        f"FROM {ITEM} i JOIN {SPLIT} s ON s.item_id = i.id WHERE i.project_id = %s "
        f"AND {meta} IS NOT NULL) t) x WHERE k = 1),"
    ), [*key_params, project.pk, *meta_params]


def splits_assign(
    *,
    project: Project,
    spec: dict[str, float],
    group_by: str | None,
    selection: str,
    selection_params: list,
    bucket_sql: str,
) -> tuple[int, int]:
    """Give every item of the selection that has no split one, in one
    ``INSERT … SELECT`` (see the module docstring). ``selection`` is the
    export's ``FROM … WHERE …`` (the item aliased ``i``) and ``bucket_sql``
    the label bucket of a row of it. Returns how many rows the selection
    holds and how many splits were set.

    The caller serialises assignments per project (two exports assigning
    the same items at once would race; the primary key would refuse the
    second) and runs this in the export's snapshot transaction, so the
    snapshot sees the splits it set."""
    records, missing = _count(selection, selection_params)
    if not missing:
        return records, 0
    grouped = group_by is not None
    c = _binary()
    if grouped:
        meta, meta_params = _meta_sql(group_by)
        key, key_params = f"COALESCE({meta}, i.content_hash)", meta_params
        taken, taken_params = _taken_sql(project, key, key_params, meta, meta_params)
        # Ties of the hash (never seen) by the group key.
        unit, tie = "gkey", f"g.gkey{c}"
        final = (
            "SELECT n.item_id, c.split FROM need n JOIN (SELECT gkey, split FROM picked "
            "UNION ALL SELECT gkey, split FROM taken) c ON c.gkey = n.gkey"
        )
    else:
        key, key_params, taken, taken_params = "i.content_hash", [], "", []
        unit, tie = "item_id", "g.item_id"
        final = "SELECT item_id, split FROM picked"
    gkey = "gkey, " if grouped else ""  # ungrouped, the hash is all the ranking needs
    choose, choose_params = _choose_sql(spec)
    # The rows go in in item order: the primary key's index then grows at
    # its right edge instead of taking a million inserts at random places.
    sql = f"""
    INSERT INTO {SPLIT} (item_id, split)
    WITH items AS (
        SELECT x.item_id, x.bucket, {"x.gkey, " if grouped else ""}md5(%s || ':' || x.gkey) AS h,
            s.split
        FROM (SELECT i.id AS item_id, {bucket_sql} AS bucket, {key} AS gkey {selection}) x
        LEFT JOIN {SPLIT} s ON s.item_id = x.item_id
    ),
    {taken}
    need AS (SELECT item_id, bucket, {gkey}h FROM items WHERE split IS NULL),
    base AS (SELECT bucket, count(*) AS n FROM items WHERE split IS NOT NULL GROUP BY bucket),
    {_groups_sql(grouped=grouped)},
    ranked AS (
        SELECT g.{unit}, COALESCE(b.n, 0) + row_number() OVER (
            PARTITION BY g.bucket{c} ORDER BY g.h{c}, {tie}) AS pos
        FROM groups g LEFT JOIN base b ON b.bucket = g.bucket
    ),
    picked AS (
        SELECT r.{unit}, {choose} AS split
        FROM (SELECT {unit}, (pos * %s) - floor(pos * %s) AS u FROM ranked) r
    )
    {final} ORDER BY 1
    """  # noqa: S608 - table names, CTE names and CASE are ours; values are parameters
    params = [
        project.split_salt,
        *key_params,
        *selection_params,
        *taken_params,
        *choose_params,
        PHI,
        PHI,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return records, cursor.rowcount


def _count(selection: str, selection_params: list) -> tuple[int, int]:
    """The selection's rows and how many of their items have no split, in
    one scan. Every export after an item's first finds none missing and
    skips the ranking; the export needs the count anyway."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(*) - count(s.item_id) FROM (SELECT i.id AS item_id "  # noqa: S608
            f"{selection}) sel LEFT JOIN {SPLIT} s ON s.item_id = sel.item_id",
            selection_params,
        )
        records, missing = cursor.fetchone()
        return records, missing
