"""The floor under every raw SQL statement: the one module that knows
PostgreSQL from SQLite.

* ``dialect()`` answers the fragments that differ between the two databases
  (row locks, JSON casts, subquery fences, array membership, aggregation).
  Code above writes ``dialect().skip_locked("i")``, never a vendor test of
  its own; the embedded mode's SQLite gets the fragment that keeps the same
  meaning there (usually nothing: IMMEDIATE transactions already serialise
  writers).
* ``model_columns`` / ``model_from_row``: the row mapper for SQL of our own.
* ``LockNamespace``: every PostgreSQL advisory-lock namespace, in one place,
  so no two users of ``pg_advisory_lock`` collide.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any

from django.db import connection, connections


class LockNamespace(IntEnum):
    """The first key of every two-key advisory lock Accord takes."""

    JOBS = 0x4A0B  # a running job, on its side connection (projects/jobs.py)
    ITEMS = 0x17E5  # writers of a project's items (items/locks.py)
    SPLITS = 0x5B17  # a project's split assignment (exports)


class PostgreSQL:
    name = "postgresql"
    is_postgresql = True
    # A JSON parameter, and the cast that makes text a jsonb value.
    jsonb_param = "%s::jsonb"
    jsonb_cast = "::jsonb"
    # Byte order for identifiers, whatever the database's collation.
    collate_c = ' COLLATE "C"'
    # COPY … FROM STDIN takes rows faster than any INSERT.
    copy_in = True
    # Many writers at once: a long import is one transaction under an
    # advisory lock while others write beside it.
    single_writer = False

    @staticmethod
    def epoch_seconds(column: str) -> str:
        return f"EXTRACT(EPOCH FROM {column})::bigint"

    @staticmethod
    def for_update() -> str:
        return " FOR UPDATE"

    @staticmethod
    def skip_locked(*aliases: str) -> str:
        return f" FOR UPDATE OF {', '.join(aliases)} SKIP LOCKED"

    @staticmethod
    def fence() -> str:
        """Keeps a subquery a subquery: PostgreSQL does not pull a subquery
        with OFFSET into the query around it, so the planner cannot reorder
        it."""
        return " OFFSET 0"

    @staticmethod
    def among(ids_sql: str) -> str:
        """``id`` among the ids a subquery returns, the subquery run once,
        first (an array), so each row is then read through its key."""
        return f"= ANY(ARRAY({ids_sql}))"

    @staticmethod
    def string_agg(expr: str, separator: str) -> str:
        return f"string_agg({expr}, {separator})"


class SQLite:
    name = "sqlite"
    is_postgresql = False
    jsonb_param = "%s"
    jsonb_cast = ""
    collate_c = ""
    copy_in = False
    # One writer at a time for the whole database: a long import writes in
    # short transactions (items/importer.py, "Staging").
    single_writer = True

    @staticmethod
    def epoch_seconds(column: str) -> str:
        return f"CAST(strftime('%%s', {column}) AS INTEGER)"

    @staticmethod
    def for_update() -> str:
        return ""  # the IMMEDIATE transaction already holds the write lock

    @staticmethod
    def skip_locked(*aliases: str) -> str:
        return ""  # IMMEDIATE transactions serialise claims: nothing is locked

    @staticmethod
    def fence() -> str:
        return ""

    @staticmethod
    def among(ids_sql: str) -> str:
        return f"IN ({ids_sql})"

    @staticmethod
    def string_agg(expr: str, separator: str) -> str:
        return f"group_concat({expr}, {separator})"


Dialect = type[PostgreSQL] | type[SQLite]


def dialect(using: Any = None) -> Dialect:
    """The fragments for ``using`` (a connection or an alias; the default
    connection when omitted)."""
    conn = connections[using] if isinstance(using, str) else (using or connection)
    return PostgreSQL if conn.vendor == "postgresql" else SQLite


def advisory_xact_lock(namespace: LockNamespace, key: int) -> None:
    """A transaction-scoped advisory lock on PostgreSQL; on SQLite nothing
    (IMMEDIATE transactions already serialise writers)."""
    if dialect().is_postgresql:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [int(namespace), key])


# --- rows of SQL of our own ----------------------------------------------------
#
# The token check, these access checks and the queue's claim and submit read
# with SQL of their own (compiling an ORM query costs more CPU than running
# it). ``Model.objects.raw`` would still rebuild its column map and
# converters from the cursor's description on every call, which on the hot
# path cost as much as the query; these two keep the map per model. Columns
# are named, never ``*``: a prepared statement (accord/settings.py) whose
# result changed shape because a migration added a column would fail until
# its connection closed.


def _columns(model) -> list[str]:
    quote = connection.ops.quote_name
    return [quote(field.column) for field in model._meta.concrete_fields]


_COLUMNS: dict[tuple[Any, str], str] = {}


def model_columns(model, alias: str) -> str:
    """The model's columns in field order, as ``alias.column, …``."""
    key = (model, alias)
    if key not in _COLUMNS:
        _COLUMNS[key] = ", ".join(f"{alias}.{column}" for column in _columns(model))
    return _COLUMNS[key]


_CONVERTERS: dict[tuple[Any, str], list[tuple[int, list, Any]]] = {}


def _converters(model) -> list[tuple[int, list, Any]]:
    """(position, converters, column) for each field whose value the ORM
    converts on this database (JSON from text on both; dates, times and
    booleans on SQLite): the same functions RawQuerySet applies."""
    key = (model, connection.vendor)
    if key not in _CONVERTERS:
        found = []
        for position, field in enumerate(model._meta.concrete_fields):
            column = field.get_col(model._meta.db_table)
            functions = connection.ops.get_db_converters(column) + field.get_db_converters(
                connection
            )
            if functions:
                found.append((position, functions, column))
        _CONVERTERS[key] = found
    return _CONVERTERS[key]


def model_from_row(model, row: Sequence, start: int = 0):
    """The instance whose columns (``model_columns`` order) start at
    ``row[start]``, as the ORM would have loaded it."""
    size = len(model._meta.concrete_fields)
    values = list(row[start : start + size])
    converters = _converters(model)
    if converters:
        wrapper = connections[connection.alias]  # what the ORM passes, not the proxy
        for position, functions, column in converters:
            value = values[position]
            for function in functions:
                value = function(value, column, wrapper)
            values[position] = value
    instance = model(*values)
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance
