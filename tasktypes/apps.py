from django.apps import AppConfig

from . import autodiscover


class TaskTypesConfig(AppConfig):
    name = "tasktypes"
    verbose_name = "Task types"

    def ready(self) -> None:
        # Each module of the package registers its task type when imported.
        autodiscover()
