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
* Because nothing moves, an assignment that would leave a split with a
  share above 0 without any item of the project (three groups for three
  splits, say) is refused before it is made (``splits_refusals``), and
  ``splits_preview`` answers the sizes an export would have by reading the
  very statement ``splits_assign`` inserts, without inserting it.

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

from accord.errors import InvalidInput
from accord.sql import dialect
from items.models import Item
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
    return dialect().json_key_text("i.meta", group_by)


def _binary() -> str:
    # The hash, the bucket and a meta group key sort as bytes, as SQLite
    # compares them by default; PostgreSQL would otherwise go through the
    # database's collation (slower, and its order is the server's).
    return dialect().collate_c


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


def _new_splits_sql(
    *,
    project: Project,
    spec: dict[str, float],
    group_by: str | None,
    selection: str,
    selection_params: list,
    bucket_sql: str,
    records: int,
    missing: int,
) -> tuple[str, list]:
    """SELECT (item_id, split) in item order for the selection's items
    without a split: what ``splits_assign`` inserts and ``splits_preview``
    counts, so the preview is the assignment itself, unwritten."""
    query = _Query(
        selection=selection,
        params=selection_params,
        bucket=bucket_sql,
        salt=project.split_salt,
        fresh=missing == records,
    )
    if group_by is None:
        return _ungrouped_sql(query, spec)
    return _grouped_sql(query, project, group_by, spec)


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
    select, params = _new_splits_sql(
        project=project, spec=spec, group_by=group_by, selection=selection,
        selection_params=selection_params, bucket_sql=bucket_sql,
        records=records, missing=missing,
    )  # fmt: skip
    # The rows go in in item order: the primary key's index then grows at
    # its right edge instead of taking a million inserts at random places.
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {SPLIT} (item_id, split) {select}", params)  # noqa: S608
        return records, cursor.rowcount


@dataclass(frozen=True)
class SplitSize:
    """One split of an export: its records, the groups they form (items
    when the export does not group) and how many of the records the export
    would give their split now."""

    records: int
    groups: int
    new: int


@dataclass(frozen=True)
class SplitPreview:
    splits: dict[str, SplitSize]  # every split of the spec (or "all"), sorted by name
    records: int
    groups: int
    new: int  # records without a split yet

    def payload(self) -> dict:
        return {
            "records": self.records,
            "groups": self.groups,
            "new_records": self.new,
            "splits": {
                name: {"records": s.records, "groups": s.groups, "new_records": s.new}
                for name, s in self.splits.items()
            },
        }


def _group_key_sql(group_by: str | None) -> tuple[str, list]:
    if group_by is None:
        return "i.content_hash", []
    meta, params = _meta_sql(group_by)
    return f"COALESCE({meta}, i.content_hash)", params


def _groups_sql(group_by: str | None) -> str:
    # Ungrouped, each item is its group, and the content hash is unique in
    # the project (item_content_unique): counting rows gives the same number
    # without hashing 64-character keys (a second at 100,000 items).
    return "count(*)" if group_by is None else "count(DISTINCT x.gkey)"


def splits_preview(
    *,
    project: Project,
    spec: dict[str, float] | None,
    group_by: str | None,
    selection: str,
    selection_params: list,
    bucket_sql: str,
    selected_ids: str | None = None,
    groups: bool = True,
) -> SplitPreview:
    """The split sizes an export of ``selection`` would have, writing
    nothing: the selection's assigned items counted by their split, the
    others by the split ``splits_assign`` would give them (the same
    statement, read instead of inserted), with the groups of each split
    (distinct group keys, as the assignment forms them; not counted, 0,
    without ``groups``). Without a spec, one split "all". Parameters as for
    ``splits_assign``."""
    records, missing = _count(
        selected_ids or f"SELECT i.id AS item_id {selection}", selection_params
    )
    key, key_params = _group_key_sql(group_by)
    from_part, where_part = selection.split(" WHERE ", 1)
    if spec is None:
        split, join, join_params = f"'{UNSPLIT}'", "", []
    elif missing:
        new, new_params = _new_splits_sql(
            project=project, spec=spec, group_by=group_by, selection=selection,
            selection_params=selection_params, bucket_sql=bucket_sql,
            records=records, missing=missing,
        )  # fmt: skip
        split = "COALESCE(s.split, n.split)"
        join = f"LEFT JOIN {SPLIT} s ON s.item_id = i.id LEFT JOIN ({new}) n ON n.item_id = i.id"
        join_params = new_params
    else:
        split, join, join_params = "s.split", f"LEFT JOIN {SPLIT} s ON s.item_id = i.id", []
    fresh = "0" if spec is None else "CASE WHEN s.item_id IS NULL THEN 1 ELSE 0 END"
    if not groups:
        key, key_params = "NULL", []
    count = _groups_sql(group_by) if groups else "0"
    sql = (
        f"SELECT x.split, count(*), {count}, COALESCE(sum(x.fresh), 0) "  # noqa: S608
        f"FROM (SELECT {split} AS split, {key} AS gkey, {fresh} AS fresh {from_part} {join} "
        f"WHERE {where_part}) x GROUP BY x.split"
    )
    params = [*key_params, *join_params, *selection_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = {name: SplitSize(int(n), int(g), int(f)) for name, n, g, f in cursor.fetchall()}
    total = (
        splits_groups(group_by=group_by, selection=selection, selection_params=selection_params)
        if groups
        else 0
    )
    names = sorted(spec) if spec is not None else [UNSPLIT]
    sizes = {name: rows.pop(name, SplitSize(0, 0, 0)) for name in names}
    if rows:  # an item with a split outside the spec: splits_check_names prevents it
        raise ValueError(f"items of the export have other splits: {sorted(rows)}")
    new = missing if spec is not None else 0
    return SplitPreview(splits=sizes, records=records, groups=total, new=new)


def splits_groups(*, group_by: str | None, selection: str, selection_params: list) -> int:
    """How many groups the selection's items form (items, ungrouped)."""
    key, key_params = _group_key_sql(group_by)
    count = "count(*)" if group_by is None else f"count(DISTINCT {key})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {count} {selection}",  # noqa: S608
            [*(key_params if group_by is not None else []), *selection_params],
        )
        return int(cursor.fetchone()[0])


def splits_refusals(
    *,
    project: Project,
    spec: dict[str, float] | None,
    records: dict[str, int],
    groups: int,
    group_by: str | None,
    new: int,
) -> list[dict[str, str]]:
    """Why an export that assigns ``new`` items their splits must not: a
    split with a share above 0 that would hold none of its ``records`` (per
    split, after the assignment) and no other item of the project either.
    Such a split would stay empty for good — the items keep the split they
    are given — so the export is refused before anything is assigned. An
    export that assigns nothing is never refused (its items' splits are
    settled); nor is a later one whose empty split has items from earlier
    exports. A split meant to stay empty is given the share 0."""
    if spec is None or not new:
        return []
    empty = [name for name in sorted(spec) if spec[name] > 0 and not records.get(name)]
    if not empty:
        return []
    held = set(
        ItemSplit.objects.filter(item__project=project, split__in=empty)
        .values_list("split", flat=True)
        .distinct()
    )
    named = sum(1 for share in spec.values() if share > 0)
    noun = (
        ("group" if groups == 1 else "groups") if group_by else ("item" if groups == 1 else "items")
    )
    count = f"{groups} {noun} by {group_by!r}" if group_by else f"{groups} {noun}"
    return [
        {
            "field": "splits",
            "reason": f"{name} would get no records: only {count} for {named} splits "
            f"(the smallest share is {min(s for s in spec.values() if s > 0):g}); items "
            "keep the split they are given, so it would stay empty. Give "
            f"{name} the share 0, group by a field with more values, or export later "
            "with more gold",
        }
        for name in empty
        if name not in held
    ]


def splits_missing(selected_ids: str, params: list) -> tuple[int, int]:
    """How many rows ``selected_ids`` (a SELECT of ``item_id``) holds, and
    how many of their items have no split yet."""
    return _count(selected_ids, params)


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
