"""API tokens: issue, verify, revoke. Keys are random; only digests are kept."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accord.sql import model_columns, model_from_row

from .models import ApiToken, User


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def password_fingerprint(user: User) -> str:
    # The session auth hash is an HMAC of the password hash: it changes with
    # every password change and reveals nothing about the password.
    return user.get_session_auth_hash()[:64]


def token_issue(
    *, user: User, name: str = "", ttl_seconds: int | None = None
) -> tuple[str, ApiToken]:
    """Create a token and return (key, token). The key is never stored."""
    key = secrets.token_urlsafe(32)
    ttl = ttl_seconds if ttl_seconds is not None else settings.ACCORD_TOKEN_TTL_SECONDS
    token = ApiToken.objects.create(
        user=user,
        digest=_digest(key),
        prefix=key[:8],
        name=name[:100],
        password_fingerprint=password_fingerprint(user),
        expires_at=timezone.now() + timedelta(seconds=ttl),
    )
    return key, token


def token_verify(key: str) -> ApiToken | None:
    """The live token for ``key``, or None if unknown, expired, revoked or stale."""
    if not key or len(key) > 200:
        return None
    # One raw read of the user with their live token's columns: this runs on
    # every API request, and compiling ORM queries cost more CPU than the
    # database's work (docs/benchmarks.md, the queue). Expiry and revocation
    # are decided in SQL, so no timestamp needs converting.
    now = timezone.now()
    digest = _digest(key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(User, 'u')}, t.id, t.password_fingerprint, "  # noqa: S608
            "(t.last_used_at IS NULL OR t.last_used_at < %s) "
            f"FROM {User._meta.db_table} u JOIN {ApiToken._meta.db_table} t ON t.user_id = u.id "
            "WHERE t.digest = %s AND t.revoked_at IS NULL AND t.expires_at > %s",
            [now - timedelta(minutes=1), digest, now],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    user = model_from_row(User, row)
    token_pk, fingerprint, stale = row[-3:]
    token = ApiToken(pk=token_pk, user=user, password_fingerprint=fingerprint, digest=digest)
    if not user.is_active:
        return None
    if not secrets.compare_digest(token.password_fingerprint, password_fingerprint(user)):
        return None
    # Touch at most once a minute so reads do not turn into a write per request.
    if stale:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def tokens_purge_expired() -> int:
    deleted, _ = ApiToken.objects.filter(expires_at__lt=timezone.now() - timedelta(days=7)).delete()
    return deleted
