from django.db import migrations


def set_unlogged(apps, schema_editor):
    # Scratch rows need no WAL: they are rebuilt from the stored file if the
    # server crashes. PostgreSQL only; SQLite has no such thing.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE annotation_importrow SET UNLOGGED")


def set_logged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE annotation_importrow SET LOGGED")


class Migration(migrations.Migration):
    dependencies = [("annotation", "0002_add_import_staging")]

    operations = [migrations.RunPython(set_unlogged, set_logged)]
