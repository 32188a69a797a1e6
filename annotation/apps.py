from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .tasktypes import autodiscover

        autodiscover()
        # Imported once the models are loaded; the tasks are this app's job kinds.
        from projects.jobs import job_kind_register

        from . import tasks

        job_kind_register("import", tasks.import_items)
        job_kind_register("priority", tasks.set_priorities)
        job_kind_register("requeue", tasks.requeue)
        post_migrate.connect(_text_index_ensure, sender=self, dispatch_uid="annotation.text_search")

        # What projects asks of this app (projects imports nothing from it).
        from projects import access, hooks

        from . import queue_selectors, reconcile
        from .models import Annotation, Assignment, Item, ItemState

        access.owned_register(Assignment=Assignment, Item=Item, Annotation=Annotation)
        hooks.queue_requeue.connect(reconcile.requeue_start)
        hooks.annotation_values.connect(_annotation_values)
        hooks.annotator_counts.connect(queue_selectors.annotator_counts)
        hooks.item_states.connect(lambda: list(ItemState.values))


def _annotation_values(*, project):
    """Every value annotated in ``project``, streamed: a config change's impact."""
    # Imported when called: apps.py is imported before the models are loaded.
    from .models import Annotation

    rows = Annotation.objects.filter(project=project).values_list("value", flat=True)
    return rows.iterator(chunk_size=2000)


def _text_index_ensure(using: str, **kwargs) -> None:
    """On SQLite, bring the search index's triggers back after any migration
    (rebuilding the item table drops them) and refill it if they were gone."""
    from django.db import connections

    from .text_search import sqlite_index_ensure

    connection = connections[using]
    if connection.vendor == "sqlite":
        from django.db.migrations.recorder import MigrationRecorder

        applied = MigrationRecorder(connection).applied_migrations()
        if ("annotation", "0010_add_item_text_search") in applied:
            sqlite_index_ensure(connection)
