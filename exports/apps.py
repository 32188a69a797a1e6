from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    # The package is "exports", not "datasets": Hugging Face's datasets
    # library has that import name, and with both in one environment one
    # shadows the other. The label stays "datasets" (tables, migrations).
    name = "exports"
    label = "datasets"
