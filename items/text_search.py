"""Item search by text: a case-insensitive substring of the item's ``text``,
answered from an index on both databases.

* PostgreSQL: a GIN trigram index (pg_trgm) on ``UPPER(data ->> 'text')``,
  the expression the search compares, so ``LIKE '%…%'`` is answered from
  the index. The pattern goes into the statement as a quoted literal, not a
  parameter: with server-side binding a statement run five times on one
  connection is prepared, and a generic plan cannot match the index's
  expression, nor tell a word in every item from a rare one; with the
  literal each search is planned with its own pattern and its own
  statistics (ANALYZE samples the indexed expression).
* SQLite (embedded mode): an FTS5 table with the trigram tokenizer
  (case-insensitive: ASCII and other scripts' simple case folding), kept
  by triggers on the item table, contentless (the text is not stored twice).
  A phrase query on trigrams is an exact substring test. FTS5 cannot look
  for fewer than three characters: those fall back to a scan with LIKE.

Both compare ``data.text`` (the classification and spans text); what a search
finds is the same on both, and the same as before the index, but for
SQLite's LIKE, which folds only ASCII letters (the index folds the rest too).
"""

# The SQL below is built from this module's own table and trigger names.
# ruff: noqa: S608

from __future__ import annotations

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from accord.sql import dialect

from .models import Item

ITEM = Item._meta.db_table
PG_INDEX = "item_text_trgm"
# The indexed expression: a search must compare exactly this.
PG_EXPRESSION = "UPPER(data ->> 'text')"
FTS = "annotation_item_text"
FTS_MIN = 3  # characters a trigram search needs
_TEXT = "json_extract({row}.data, '$.text')"
SQLITE_TRIGGERS = {
    f"{FTS}_insert": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS}_insert AFTER INSERT ON {ITEM} BEGIN
          INSERT INTO {FTS}(rowid, text) VALUES (new.id, {_TEXT.format(row="new")});
        END""",
    # A contentless table forgets a row only when told its old text.
    f"{FTS}_delete": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS}_delete AFTER DELETE ON {ITEM} BEGIN
          INSERT INTO {FTS}({FTS}, rowid, text) VALUES ('delete', old.id, {_TEXT.format(row="old")});
        END""",
    f"{FTS}_update": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS}_update AFTER UPDATE OF data ON {ITEM}
        WHEN old.data IS NOT new.data BEGIN
          INSERT INTO {FTS}({FTS}, rowid, text) VALUES ('delete', old.id, {_TEXT.format(row="old")});
          INSERT INTO {FTS}(rowid, text) VALUES (new.id, {_TEXT.format(row="new")});
        END""",
}


def sqlite_index_ensure(conn: BaseDatabaseWrapper) -> bool:
    """Create the FTS5 table and its triggers where missing, and fill the
    table from the items when a trigger was missing (a fresh install, or a
    later migration that rebuilt the item table on SQLite: a rebuild drops
    the table's triggers). True when it filled the table."""
    with conn.cursor() as cursor:
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} "
            "USING fts5(text, content='', tokenize='trigram')"
        )
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [ITEM]
        )
        present = {row[0] for row in cursor.fetchall()}
        if set(SQLITE_TRIGGERS) <= present:
            return False
        for name, ddl in SQLITE_TRIGGERS.items():
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(ddl)
        cursor.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('delete-all')")
        cursor.execute(
            f"INSERT INTO {FTS}(rowid, text) SELECT id, {_TEXT.format(row=ITEM)} FROM {ITEM}"
        )
        return True


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def text_contains(text: str) -> Q:
    """Items whose ``data.text`` contains ``text``, ignoring case."""
    if dialect().is_postgresql:  # a trigram index; SQLite has FTS5 (above)
        # Imported here: the embedded mode (SQLite) may have no psycopg.
        from psycopg import sql

        connection.ensure_connection()
        literal = sql.Literal(_like_pattern(text)).as_string(connection.connection)
        # "%" is the placeholder mark in Django's SQL: the literal's own
        # percent signs are doubled.
        condition = RawSQL(  # noqa: S611 - the pattern is quoted by psycopg
            f'UPPER("{ITEM}"."data" ->> \'text\') LIKE UPPER({literal.replace("%", "%%")})',
            (),
            output_field=BooleanField(),
        )
        return Q(condition)
    if len(text) < FTS_MIN:
        return Q(data__text__icontains=text)
    phrase = '"' + text.replace('"', '""') + '"'
    matches = RawSQL(  # noqa: S611 - our table, the phrase a parameter
        f"SELECT rowid FROM {FTS} WHERE {FTS} MATCH %s",
        (phrase,),
    )
    return Q(pk__in=matches)
