"""Every assigned split moves from the item row to the item's ItemSplit row
(and back on reversal), in one statement each way."""

from django.db import migrations


def forward(apps, schema_editor):
    item = apps.get_model("annotation", "Item")._meta.db_table
    split = apps.get_model("datasets", "ItemSplit")._meta.db_table
    schema_editor.execute(
        f"INSERT INTO {split} (item_id, split) SELECT id, split FROM {item} WHERE split <> ''"  # noqa: S608
    )


def backward(apps, schema_editor):
    item = apps.get_model("annotation", "Item")._meta.db_table
    split = apps.get_model("datasets", "ItemSplit")._meta.db_table
    schema_editor.execute(
        f"UPDATE {item} SET split = (SELECT s.split FROM {split} s WHERE s.item_id = {item}.id) "  # noqa: S608
        f"WHERE id IN (SELECT item_id FROM {split})"
    )
    schema_editor.execute(f"DELETE FROM {split}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0007_add_item_split"),
        ("datasets", "0002_add_item_split"),
    ]

    operations = [migrations.RunPython(forward, backward)]
