from __future__ import annotations

from django.contrib.sessions.models import Session
from django.utils import timezone

from projects.services import invites_purge_expired

from .tokens import tokens_purge_expired


def credentials_purge_expired() -> dict:
    sessions, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return {
        "tokens": tokens_purge_expired(),
        "invites": invites_purge_expired(),
        "sessions": sessions,
    }
