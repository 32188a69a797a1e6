"""Index the item's text for search: a trigram GIN index on PostgreSQL, an
FTS5 table kept by triggers on SQLite (annotation/text_search.py).

pg_trgm is a trusted extension from PostgreSQL 13: the database's owner may
create it without being a superuser. The index is built CONCURRENTLY (hence
a non-atomic migration), so imports and claims go on while it builds.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


def forwards(apps, schema_editor):
    from items import text_search

    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {text_search.PG_INDEX} "
            f"ON {text_search.ITEM} USING gin (({text_search.PG_EXPRESSION}) gin_trgm_ops)"
        )
    elif connection.vendor == "sqlite":
        text_search.sqlite_index_ensure(connection)


def backwards(apps, schema_editor):
    from items import text_search

    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {text_search.PG_INDEX}")
    elif connection.vendor == "sqlite":
        for name in text_search.SQLITE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
        schema_editor.execute(f"DROP TABLE IF EXISTS {text_search.FTS}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("annotation", "0009_import_staging"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
