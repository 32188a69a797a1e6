from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AccordConfig(AppConfig):
    """The platform: its management commands (embedded, demo) and the SQL
    functions every SQLite connection gets (accord/sqlite_functions.py)."""

    name = "accord"

    def ready(self) -> None:
        # Imported once the apps are loaded, like every app's ready().
        from .sqlite_functions import functions_register

        connection_created.connect(functions_register, dispatch_uid="accord.sqlite_functions")
