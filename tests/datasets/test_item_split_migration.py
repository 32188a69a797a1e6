"""The splits assigned while they were a column of the item (``Item.split``)
move to their own rows (``ItemSplit``) when the migrations run, and back
when they are reversed: no item loses or changes its split."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from exports.models import ItemSplit
from items.models import Item

# Splits on the item row, the new table already there but still empty.
BEFORE = [("annotation", "0007_add_item_split"), ("datasets", "0002_add_item_split")]
AFTER = [("annotation", "0008_remove_item_split"), ("datasets", "0003_move_item_splits")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest() -> list[tuple[str, str]]:
    """Every app's last migration: where the database was, for the tests
    that run after this one (AFTER is not the last once more are added)."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _column_splits(ids) -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, split FROM {Item._meta.db_table} WHERE id = ANY(%s)",  # noqa: S608
            [list(ids)],
        )
        return dict(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_assigned_splits_move_to_their_rows_and_back(make_project, lead):
    project = make_project(lead)
    items = Item.objects.bulk_create(
        Item(
            project=project,
            data={"text": f"t {n}"},
            content_hash=hashlib.sha256(f"t {n}".encode()).hexdigest(),
        )
        for n in range(4)
    )
    ids = [item.pk for item in items]
    given = {ids[0]: "train", ids[1]: "test", ids[2]: "train"}  # ids[3] has none
    try:
        _migrate(BEFORE)
        with connection.cursor() as cursor:
            for item_id, split in given.items():
                cursor.execute(
                    f"UPDATE {Item._meta.db_table} SET split = %s WHERE id = %s",  # noqa: S608
                    [split, item_id],
                )

        _migrate(AFTER)
        moved = dict(ItemSplit.objects.filter(item_id__in=ids).values_list("item_id", "split"))
        assert moved == given

        _migrate(BEFORE)
        assert _column_splits(ids) == {**given, ids[3]: ""}
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {ItemSplit._meta.db_table}")  # noqa: S608
            assert cursor.fetchone()[0] == 0
    finally:
        _migrate(_latest())
