from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self) -> None:
        # Imported once the models are loaded.
        from items import hooks as item_hooks
        from projects.jobs import job_kind_register

        from . import receivers, tasks

        job_kind_register("requeue", tasks.requeue)
        item_hooks.queue_reordered.connect(receivers.queue_follow)
        item_hooks.annotated_sql.connect(receivers.annotated_sql)
