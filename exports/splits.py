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
from dataclasses import dataclass

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


def _taken_sql(
    project: Project, key: str, key_params: list, meta: str, meta_params: list
) -> tuple[str, list]:
    """CTE ``taken``: groups that already have a split anywhere in the
    project keep it (the split of their lowest item)."""
    return (
        f"taken AS (SELECT gkey, split FROM (SELECT t.gkey, t.split, row_number() OVER "  # noqa: S608
        f"(PARTITION BY t.gkey ORDER BY t.id) AS k FROM (SELECT i.id, {key} AS gkey, s.split "
        f"FROM {ITEM} i JOIN {SPLIT} s ON s.item_id = i.id WHERE i.project_id = %s "
        f"AND {meta} IS NOT NULL) t) x WHERE k = 1)"
    ), [*key_params, project.pk, *meta_params]


@dataclass(frozen=True)
class _Query:
    """The parts of the assignment that depend on the export."""

    selection: str  # FROM … WHERE … of the export's rows, the item aliased i
    params: list
    bucket: str  # the label bucket of a row of the selection
    salt: str
    fresh: bool  # no item of the selection has a split yet

    def rows(self, columns: str, column_params: list, *, assigned: bool | None) -> tuple[str, list]:
        """SELECT ``columns`` over the selection's items: all, those with a
        split (assigned) or those without (not assigned)."""
        sql = f"SELECT {columns} {self.selection}"
        if assigned is not None:
            exists = f"EXISTS (SELECT 1 FROM {SPLIT} s WHERE s.item_id = i.id)"  # noqa: S608
            sql += f" AND {'' if assigned else 'NOT '}{exists}"
        return sql, [*column_params, *self.params]

    def base(self) -> tuple[str, str, list]:
        """A join that gives each bucket its count of items already assigned
        (``b.n``), so that positions go on from there; nothing when fresh."""
        if self.fresh:
            return "", "0", []
        sql, params = self.rows(f"{self.bucket} AS bucket, count(*) AS n", [], assigned=True)
        return f"LEFT JOIN ({sql} GROUP BY 1) b ON b.bucket = r.bucket", "COALESCE(b.n, 0)", params


def _ranked_sql(query: _Query, unit: str, tie: str, source: tuple[str, list]) -> tuple[str, list]:
    """(unit, pos) for the new groups of ``source`` (columns unit, bucket,
    h): each bucket's groups in hash order, their positions counted on from
    the bucket's assigned items."""
    c = _binary()
    join, base, base_params = query.base()
    sql = (
        f"SELECT r.{unit}, {base} + row_number() OVER (PARTITION BY r.bucket{c} "  # noqa: S608
        f"ORDER BY r.h{c}, r.{tie}) AS pos FROM ({source[0]}) r {join}"
    )
    return sql, [*source[1], *base_params]


def _picked_sql(ranked: tuple[str, list], unit: str, spec: dict[str, float]) -> tuple[str, list]:
    """(unit, split): each position's split from the low-discrepancy sequence."""
    choose, choose_params = _choose_sql(spec)
    return (
        f"SELECT r.{unit}, {choose} AS split FROM (SELECT {unit}, "  # noqa: S608
        f"(pos * %s) - floor(pos * %s) AS u FROM ({ranked[0]}) p) r",
        [*choose_params, PHI, PHI, *ranked[1]],
    )


def _ungrouped_sql(query: _Query, spec: dict[str, float]) -> tuple[str, list]:
    """Every item its own group, keyed by its content hash (unique in the
    project); one pass over the selection when none of it is assigned."""
    need = query.rows(
        f"i.id AS item_id, {query.bucket} AS bucket, md5(%s || ':' || i.content_hash) AS h",
        [query.salt],
        assigned=None if query.fresh else False,
    )
    picked, params = _picked_sql(_ranked_sql(query, "item_id", "item_id", need), "item_id", spec)
    return f"{picked} ORDER BY 1", params


def _grouped_sql(query: _Query, project: Project, group_by: str, spec) -> tuple[str, list]:
    """Groups by ``meta[group_by]`` (else the content hash): a group that has
    a split anywhere keeps it; a new group is ranked by its first item."""
    meta, meta_params = _meta_sql(group_by)
    key = f"COALESCE({meta}, i.content_hash)"
    need, need_params = query.rows(
        f"i.id AS item_id, {query.bucket} AS bucket, {key} AS gkey",
        meta_params,
        assigned=None if query.fresh else False,
    )
    taken, taken_params = _taken_sql(project, key, meta_params, meta, meta_params)
    # A new group's bucket is its first item's; its hash is of its key.
    groups = (
        "SELECT gkey, bucket, md5(%s || ':' || gkey) AS h FROM (SELECT n.gkey, n.bucket, "
        "row_number() OVER (PARTITION BY n.gkey ORDER BY n.item_id) AS k FROM need n "
        # NOT IN over the (never null) keys is a hashed lookup whatever the
        # planner thinks ``need`` holds: an anti join it believed small went
        # through every pair.
        "WHERE n.gkey NOT IN (SELECT gkey FROM taken)) x WHERE k = 1",
        [query.salt],
    )
    ranked = _ranked_sql(query, "gkey", f"gkey{_binary()}", groups)
    picked, picked_params = _picked_sql(ranked, "gkey", spec)
    sql = (
        f"WITH need AS ({need}), {taken}, picked AS ({picked}) "  # noqa: S608
        "SELECT n.item_id, c.split FROM need n JOIN (SELECT gkey, split FROM picked "
        "UNION ALL SELECT gkey, split FROM taken) c ON c.gkey = n.gkey ORDER BY 1"
    )
    return sql, [*need_params, *taken_params, *picked_params]


def splits_assign(
    *,
    project: Project,
    spec: dict[str, float],
    group_by: str | None,
    selection: str,
    selection_params: list,
    bucket_sql: str,
    selected_ids: str | None = None,
) -> tuple[int, int]:
    """Give every item of the selection that has no split one, in one
    ``INSERT … SELECT`` (see the module docstring). ``selection`` is the
    export's ``FROM … WHERE …`` (the item aliased ``i``) and ``bucket_sql``
    the label bucket of a row of it; ``selected_ids``, when given, a cheaper
    SELECT of the same rows' item ids (as ``item_id``) to count them with.
    Returns how many rows the selection holds and how many splits were set.

    The caller serialises assignments per project (two exports assigning
    the same items at once would race; the primary key would refuse the
    second) and runs this in the export's snapshot transaction, so the
    snapshot sees the splits it set."""
    records, missing = _count(
        selected_ids or f"SELECT i.id AS item_id {selection}", selection_params
    )
    if not missing:
        return records, 0
    query = _Query(
        selection=selection,
        params=selection_params,
        bucket=bucket_sql,
        salt=project.split_salt,
        fresh=missing == records,
    )
    if group_by is None:
        select, params = _ungrouped_sql(query, spec)
    else:
        select, params = _grouped_sql(query, project, group_by, spec)
    # The rows go in in item order: the primary key's index then grows at
    # its right edge instead of taking a million inserts at random places.
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {SPLIT} (item_id, split) {select}", params)  # noqa: S608
        return records, cursor.rowcount


def _count(selected_ids: str, params: list) -> tuple[int, int]:
    """The selection's rows and how many of their items have no split, in
    one scan. Every export after an item's first finds none missing and
    skips the ranking; the export needs the count anyway."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(*) - count(s.item_id) FROM ({selected_ids}) sel "  # noqa: S608
            f"LEFT JOIN {SPLIT} s ON s.item_id = sel.item_id",
            params,
        )
        records, missing = cursor.fetchone()
        return records, missing
