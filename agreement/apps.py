from django.apps import AppConfig


class AgreementConfig(AppConfig):
    name = "agreement"
    verbose_name = "Agreement"

    def ready(self) -> None:
        # Imported once the models are loaded: the task runs this app's job kind.
        from projects.jobs import job_kind_register

        from . import tasks

        job_kind_register("agreement", tasks.agreement_report)
