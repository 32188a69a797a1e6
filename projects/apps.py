from celery.signals import worker_ready
from django.apps import AppConfig
from django.conf import settings


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = "Projects"

    def ready(self) -> None:
        worker_ready.connect(_requeue_cut_off_jobs, weak=False)


def _requeue_cut_off_jobs(**_: object) -> None:
    # Only the embedded mode's worker knows it is the only one.
    if settings.EMBEDDED:
        # Imported here: apps.py is imported before the models are loaded.
        from .jobs import jobs_requeue_cut_off

        jobs_requeue_cut_off()
