from __future__ import annotations

from celery import shared_task

from .services import credentials_purge_expired


@shared_task(acks_late=True)
def purge_expired_credentials() -> dict:
    """Delete long-expired tokens, invites and sessions. Running it twice does nothing new."""
    return credentials_purge_expired()
