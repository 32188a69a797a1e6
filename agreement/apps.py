from django.apps import AppConfig


class AgreementConfig(AppConfig):
    name = "agreement"
    verbose_name = "Agreement"

    def ready(self) -> None:
        # Imported once the models are loaded.
        from annotation import hooks as annotation_hooks
        from projects.jobs import job_kind_register
        from review import hooks as review_hooks

        from . import services, tasks

        job_kind_register("agreement", tasks.agreement_report)
        # New reliability data (a comparison) or new gold: a report follows
        # the burst.
        annotation_hooks.item_compared.connect(services.report_soon_on_commit)
        review_hooks.gold_changed.connect(services.report_soon)
