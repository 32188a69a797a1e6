from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self) -> None:
        # Imported once the models are loaded.
        from items import hooks as item_hooks
        from projects import access
        from projects import hooks as project_hooks
        from projects.jobs import job_kind_register

        from . import receivers, reconcile, selectors, tasks
        from .models import Annotation, Assignment

        job_kind_register("requeue", tasks.requeue)
        item_hooks.queue_reordered.connect(receivers.queue_follow)
        item_hooks.annotated_sql.connect(receivers.annotated_sql)
        # What projects asks of this app (projects imports nothing from it).
        access.owned_register(Assignment=Assignment, Annotation=Annotation)
        project_hooks.queue_requeue.connect(reconcile.requeue_start)
        project_hooks.annotation_values.connect(receivers.annotation_values)
        project_hooks.annotator_counts.connect(selectors.annotator_counts)
