"""Login throttle with atomic counters.

Every attempt is counted *before* the password is checked, with an atomic
add-then-increment on the cache (Redis INCR in server mode), so a hundred
parallel attempts see a hundred distinct counts and at most the limit get
through. DRF's and django-axes' read-then-write counters let parallel requests
pass together (SECURITY.md D6), which is why this is not one of them.

When Redis does not answer, an attempt cannot be counted and is refused with
503 and Retry-After (``ServiceUnavailable`` from ``accord.ratelimit.hit``):
the throttle fails closed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from accord.errors import ServiceUnavailable
from accord.ratelimit import hit as _hit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThrottleVerdict:
    allowed: bool
    retry_after: int


def _key(kind: str, value: str) -> str:
    return f"accord:login:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def login_attempt(*, username: str, ip: str) -> ThrottleVerdict:
    window = settings.ACCORD_LOGIN_WINDOW_SECONDS
    try:
        per_user = _hit(_key("user", username.strip().lower()), window)
        per_ip = _hit(_key("ip", ip or "unknown"), window)
    except ServiceUnavailable as down:
        raise ServiceUnavailable(
            "Signing in is unavailable for a moment.", down.retry_after
        ) from down
    allowed = (
        per_user <= settings.ACCORD_LOGIN_ATTEMPTS_PER_USER
        and per_ip <= settings.ACCORD_LOGIN_ATTEMPTS_PER_IP
    )
    return ThrottleVerdict(allowed=allowed, retry_after=window)


def login_succeeded(*, username: str) -> None:
    try:
        cache.delete(_key("user", username.strip().lower()))
    except (RedisError, OSError) as exc:
        # The sign-in is done; its failed attempts count until their window ends.
        log.warning("login throttle: could not reset a counter: %s", exc)


def client_ip(request) -> str:
    """The client's address for the per-IP limit.

    X-Forwarded-For is client-controlled except for the hops our own proxies
    append, so only the entry the outermost trusted proxy wrote is believed
    (ACCORD_PROXY_COUNT); with no proxy, REMOTE_ADDR alone. A spoofable key
    would void the limit; a proxy's own address would make every user share one.
    """
    hops = settings.ACCORD_PROXY_COUNT
    if hops > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")
