from __future__ import annotations

from celery import shared_task

from .leases import reviews_expire


@shared_task(ignore_result=True)
def expire_review_leases() -> int:
    """End the review leases past their time (every 30 s)."""
    return reviews_expire()
