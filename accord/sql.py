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

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from enum import IntEnum
from typing import Any

import psycopg
from django.db import OperationalError, connection, connections, transaction
from django.db.models.fields.json import compile_json_path


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

    # --- the export's fragments (exports/): the item aliased i, its gold g ---
    # PostgreSQL keeps JSON as jsonb; SQLite keeps it as text, read with its
    # JSON functions. Both give the rows the same values, and the formats
    # re-serialise every value (sorted keys), so the files are the same
    # bytes on both.

    # The label bucket of a gold record: its label, the sorted label set of a
    # multi-label value, a hash of any other value; "" without gold or excluded.
    gold_bucket = (
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
    def json_key_text(column: str, key: str) -> tuple[str, list]:
        """``column[key]`` as text, NULL when absent or null, the same text on
        both databases for strings, whole numbers and booleans."""
        return f"({column} ->> %s)", [key]

    @staticmethod
    def json_keys(column: str) -> tuple[str, str, str]:
        """The keys of a JSON object column with the JSON types of their
        values: the type of ``k.value`` (integer and real told apart), the
        join that gives a row ``k`` per key, and a condition that passes
        over empty objects before the join."""
        kind = (
            "CASE jsonb_typeof(k.value) WHEN 'number' THEN CASE WHEN k.value::text ~ '^-?[0-9]+$' "
            "THEN 'integer' ELSE 'real' END ELSE jsonb_typeof(k.value) END"
        )
        # Most items have no metadata: skipping them before jsonb_each took
        # the export's query from 0.13 s to 0.02 s at 100,000 records.
        return kind, f"CROSS JOIN LATERAL jsonb_each({column}) k", f"{column} <> '{{}}'::jsonb"

    @staticmethod
    def aggregate(alias: str, fields: tuple, source: str, order: str) -> tuple[str, str]:
        """A JSON array of one object per row of ``source`` (FROM … WHERE,
        correlated with the record), ordered: the join and the column.
        ``fields`` are (key, column, kind); the kind ("json", "bool",
        "time" or "") tells SQLite how to make the column JSON."""
        pairs = ", ".join(f"'{key}', {column}" for key, column, _ in fields)
        return (
            f"LEFT JOIN LATERAL (SELECT json_agg(json_build_object({pairs}) ORDER BY {order}) "
            f"AS rows {source}) {alias} ON TRUE",
            f"{alias}.rows::text",
        )

    # --- reading every row in one snapshot (the export's job) ---------------

    @staticmethod
    @contextlib.contextmanager
    def snapshot(*, writes: bool) -> Iterator[None]:
        """One transaction whose every read sees the same data, whatever
        others write meanwhile: REPEATABLE READ (as its first statement; a
        nested block keeps the outer transaction's level). A concurrent
        write to the same rows can make PostgreSQL refuse it:
        ``is_serialization_failure`` says when to run it again."""
        nested = connection.in_atomic_block
        with transaction.atomic():
            if not nested:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield

    @staticmethod
    def is_serialization_failure(exc: BaseException) -> bool:
        return isinstance(exc, OperationalError) and isinstance(
            getattr(exc, "__cause__", None), psycopg.errors.SerializationFailure
        )

    @staticmethod
    def bulk_read_settings(work_mem: str) -> None:
        """For the rest of the transaction: sorts and hashes in ``work_mem``
        (the default 4 MB spills a million rows' to disk), and no JIT:
        compiling the export's queries took longer (about a second) than it
        saved, the rows' cost being in Python, which runs beside PostgreSQL."""
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{work_mem}'")
            cursor.execute("SET LOCAL jit = off")

    @staticmethod
    def chunks(cursor, size: int) -> Iterator[list[tuple]]:
        """The rows of a ``connection.chunked_cursor()`` (a server-side
        cursor), in chunks of ``size``, prefetched (``rows_prefetched``)."""
        return rows_prefetched(cursor, size)


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

    # --- the export's fragments (see PostgreSQL's) ----------------------------

    # The same buckets; md5 is ours (accord/sqlite_functions.py). Bucket
    # names only group records, so md5 of SQLite's JSON text serves as well
    # as of PostgreSQL's.
    gold_bucket = (
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
    def json_key_text(column: str, key: str) -> tuple[str, list]:
        # json_extract gives numbers as numbers (3 would not equal "3") and
        # booleans as 1/0: made into PostgreSQL's ->> text.
        path = compile_json_path([key])
        return (
            f"(CASE json_type({column}, %s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"ELSE CAST(json_extract({column}, %s) AS TEXT) END)",
            [path, path],
        )

    @staticmethod
    def json_keys(column: str) -> tuple[str, str, str]:
        kind = (
            "CASE k.type WHEN 'text' THEN 'string' WHEN 'true' THEN 'boolean' "
            "WHEN 'false' THEN 'boolean' ELSE k.type END"
        )
        return kind, f"CROSS JOIN json_each({column}) k", f"{column} <> '{{}}'"

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

    @staticmethod
    @contextlib.contextmanager
    def snapshot(*, writes: bool) -> Iterator[None]:
        """One transaction that sees one snapshot (WAL mode) from its first
        read to its commit. Without ``writes`` it begins DEFERRED: the read
        takes no write lock, while annotators go on writing. The embedded
        mode otherwise begins IMMEDIATE (the write lock at BEGIN), which a
        snapshot that writes still needs: SQLite refuses to turn a read
        transaction into a write once another connection has written
        meanwhile."""
        with _deferred(not writes), transaction.atomic():
            yield

    @staticmethod
    def is_serialization_failure(exc: BaseException) -> bool:
        return False  # one writer at a time: nothing to retry

    @staticmethod
    def bulk_read_settings(work_mem: str) -> None:
        pass  # SQLite has no work_mem, and no JIT

    @staticmethod
    def chunks(cursor, size: int) -> Iterator[list[tuple]]:
        # SQLite steps through the result as it is read (no server-side
        # cursor, nothing held whole): fetched in turn.
        while rows := cursor.fetchmany(size):
            yield rows


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


# --- the two dialects' helpers ----------------------------------------------------

# Chunks fetched ahead of the reader (memory: about this many chunks more).
PREFETCH = 2


def rows_prefetched(cursor, size: int) -> Iterator[list[tuple]]:
    """The rows of a PostgreSQL server-side cursor, in chunks of ``size``,
    fetched by a thread one or two chunks ahead: PostgreSQL computes the
    next chunk (on the other core) while this thread works on the current
    one, instead of each waiting for the other. The thread only ever touches
    this cursor, and the caller does not use the connection until the
    generator ends (closing it early stops the thread)."""
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


@contextlib.contextmanager
def _deferred(wanted: bool) -> Iterator[None]:
    """On SQLite, transactions begun inside start DEFERRED (see
    ``SQLite.snapshot``); a block already in a transaction keeps it."""
    if not wanted or connection.in_atomic_block:
        yield
        return
    connection.ensure_connection()  # connecting would reset the mode
    configured = connection.transaction_mode
    connection.transaction_mode = "DEFERRED"
    try:
        yield
    finally:
        connection.transaction_mode = configured
