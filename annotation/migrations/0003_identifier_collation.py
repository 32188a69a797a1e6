from django.db import migrations

COLUMNS = ("content_hash", "external_id")


def byte_order(apps, schema_editor):
    # Hashes and external ids are identifiers: compare them byte by byte.
    # Faster to index than a linguistic collation (the import's unique
    # checks), and the same order on every server. PostgreSQL only.
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f'ALTER TABLE annotation_item ALTER COLUMN {column} TYPE varchar({64 if column == "content_hash" else 255}) COLLATE "C"')


def default_order(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f'ALTER TABLE annotation_item ALTER COLUMN {column} TYPE varchar({64 if column == "content_hash" else 255}) COLLATE "default"')


class Migration(migrations.Migration):
    dependencies = [("annotation", "0002_drop_item_state_index")]

    operations = [migrations.RunPython(byte_order, default_order)]
