from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"

    def ready(self) -> None:
        # Imported once the models are loaded. Review answers the queue's
        # upward events (annotation/hooks.py): it settles complete items,
        # counts its gold, shows an item's gold and an annotator's feedback.
        from annotation import hooks as annotation_hooks
        from projects import access
        from projects import hooks as project_hooks

        from . import gold, selectors, settle
        from .models import GoldRecord, Review

        annotation_hooks.item_settler.connect(settle.item_settle)
        annotation_hooks.counters_expected.connect(gold.gold_counters_expected)
        annotation_hooks.item_gold.connect(gold.item_gold)
        annotation_hooks.unseen_feedback.connect(selectors.unseen_feedback)
        # What projects asks of this app (projects imports nothing from it).
        access.owned_register(Review=Review, GoldRecord=GoldRecord)
        project_hooks.review_turned_on.connect(settle.unresolved_to_review)
