from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ItemsConfig(AppConfig):
    name = "items"
    verbose_name = "Items"

    def ready(self) -> None:
        # Imported once the models are loaded: the tasks run this app's job kinds.
        from projects import access
        from projects import hooks as project_hooks
        from projects.jobs import job_kind_register

        from . import tasks
        from .models import Item

        job_kind_register("import", tasks.import_items)
        job_kind_register("priority", tasks.set_priorities)
        # What projects asks of this app (projects imports nothing from it).
        access.owned_register(Item=Item)
        project_hooks.item_states.connect(_item_states)
        post_migrate.connect(_text_index_ensure, sender=self, dispatch_uid="items.text_search")


def _item_states() -> list[str]:
    # Imported when called: apps.py is imported before the models are loaded.
    from .models import ItemState

    return list(ItemState.values)


def _text_index_ensure(using: str, **kwargs) -> None:
    """On SQLite, bring the search index's triggers back after any migration
    (rebuilding the item table drops them) and refill it if they were gone."""
    # Imported here: apps.py is imported before the models are loaded.
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    from accord.sql import dialect

    from .text_search import sqlite_index_ensure

    connection = connections[using]
    if not dialect(connection).is_postgresql:
        applied = MigrationRecorder(connection).applied_migrations()
        if ("annotation", "0010_add_item_text_search") in applied:
            sqlite_index_ensure(connection)
