from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"

    def ready(self) -> None:
        # Imported once the models are loaded. Review answers the queue's
        # upward events (annotation/hooks.py): it settles complete items,
        # counts its gold, and the agreement report follows comparisons.
        from annotation import hooks
        from projects.jobs import job_kind_register

        from . import gold, report_jobs, selectors, settle, tasks

        job_kind_register("agreement", tasks.agreement_report)
        hooks.item_settler.register(settle.item_settle)
        hooks.item_compared.connect(report_jobs.report_soon_on_commit)
        hooks.counters_expected.connect(gold.gold_counters_expected)
        hooks.item_gold.register(gold.item_gold)
        hooks.unseen_feedback.register(selectors.unseen_feedback)
