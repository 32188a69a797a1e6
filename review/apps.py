from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"

    def ready(self) -> None:
        # Imported once the models are loaded.
        from projects import access, hooks

        from .gold import unresolved_to_review
        from .models import GoldRecord, Review

        # What projects asks of this app (projects imports nothing from it).
        access.owned_register(Review=Review, GoldRecord=GoldRecord)
        hooks.review_turned_on.connect(unresolved_to_review)
