from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"

    def ready(self) -> None:
        # Imported once the models are loaded; the task runs this app's job kind.
        from projects.jobs import job_kind_register

        from . import tasks

        job_kind_register("agreement", tasks.agreement_report)

        # What projects asks of this app (projects imports nothing from it).
        from projects import access, hooks

        from .gold import unresolved_to_review
        from .models import GoldRecord, Review

        access.owned_register(Review=Review, GoldRecord=GoldRecord)
        hooks.review_turned_on.connect(unresolved_to_review)
