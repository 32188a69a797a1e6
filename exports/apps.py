from django.apps import AppConfig
from django.db.backends.signals import connection_created


class DatasetsConfig(AppConfig):
    # The package is "exports", not "datasets": Hugging Face's datasets
    # library has that import name, and with both in one environment one
    # shadows the other. The label stays "datasets" (tables, migrations).
    name = "exports"
    label = "datasets"

    def ready(self) -> None:
        # Imported once the models are loaded. The SQLite functions are the
        # platform's (accord/sqlite_functions.py), connected here because
        # accord has no AppConfig of its own; the export's SQL is what uses them.
        from accord.sqlite_functions import functions_register

        connection_created.connect(functions_register, dispatch_uid="accord.sqlite_functions")

        from projects.jobs import job_kind_register, job_leftovers_register

        from . import tasks
        from .bundle import work_folder_remove
        from .start import KIND

        job_kind_register(KIND, tasks.export_dataset)
        job_leftovers_register(KIND, work_folder_remove)
