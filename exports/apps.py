from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    # The package is "exports", not "datasets": Hugging Face's datasets
    # library has that import name, and with both in one environment one
    # shadows the other. The label stays "datasets" (tables, migrations).
    name = "exports"
    label = "datasets"

    def ready(self) -> None:
        # Imported once the models are loaded.
        from projects import access
        from projects.jobs import job_kind_register, job_leftovers_register

        from . import tasks
        from .models import DatasetVersion

        job_kind_register(tasks.KIND, tasks.export_dataset)
        job_leftovers_register(tasks.KIND, tasks.work_folder_remove)
        # What projects asks of this app (projects imports nothing from it).
        access.owned_register(DatasetVersion=DatasetVersion)
