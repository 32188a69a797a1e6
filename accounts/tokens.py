"""API tokens: issue, verify, revoke. Keys are random; only digests are kept."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

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
    # Raw reads: this runs on every API request, and compiling the ORM query
    # cost more CPU than the database's work (docs/benchmarks.md, the queue).
    token = next(
        iter(
            ApiToken.objects.raw(
                f"SELECT * FROM {ApiToken._meta.db_table} WHERE digest = %s",  # noqa: S608
                [_digest(key)],
            )
        ),
        None,
    )
    if token is not None:
        token.user = next(
            iter(
                User.objects.raw(
                    f"SELECT * FROM {User._meta.db_table} WHERE id = %s",  # noqa: S608
                    [token.user_id],
                )
            )
        )
    if token is None or token.revoked_at is not None or token.expires_at <= timezone.now():
        return None
    if not token.user.is_active:
        return None
    if not secrets.compare_digest(token.password_fingerprint, password_fingerprint(token.user)):
        return None
    now = timezone.now()
    # Touch at most once a minute so reads do not turn into a write per request.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def tokens_purge_expired() -> int:
    deleted, _ = ApiToken.objects.filter(expires_at__lt=timezone.now() - timedelta(days=7)).delete()
    return deleted
