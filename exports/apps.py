from django.apps import AppConfig
from django.db.backends.signals import connection_created


class DatasetsConfig(AppConfig):
    # The package is "exports", not "datasets": Hugging Face's datasets
    # library has that import name, and with both in one environment one
    # shadows the other. The label stays "datasets" (tables, migrations).
    name = "exports"
    label = "datasets"

    def ready(self) -> None:
        from .sqlite import functions_register

        connection_created.connect(functions_register, dispatch_uid="exports.sqlite")

        from projects.jobs import job_kind_register, job_leftovers_register

        from . import tasks

        job_kind_register("export", tasks.export_dataset)

        def remove_work_folder(job_id: int) -> None:
            # Imported when needed: the export module loads the formats'
            # libraries, which a web process may never need.
            from .exports import work_folder_remove

            work_folder_remove(job_id)

        job_leftovers_register("export", remove_work_folder)

        # What projects asks of this app (projects imports nothing from it).
        from projects import access

        from .models import DatasetVersion

        access.owned_register(DatasetVersion=DatasetVersion)
