"""Per-user rate limits with atomic counters on the cache.

Add-then-increment (Redis INCR in server mode) so parallel requests each see
their own count and at most the limit pass; a read-then-write counter lets a
burst through together (SECURITY.md D6).

When the counters' Redis does not answer, ``hit`` raises ServiceUnavailable
(503 with Retry-After), never a 500. The queue's limits (``check_rate``)
fail open instead for the first ``ACCORD_RATE_FAIL_OPEN_SECONDS`` of an
outage, so a Redis restart does not stop annotators; a longer outage gets
503s until Redis is back. The login throttle never fails open: a password
guess is never left uncounted. After a failure each process leaves Redis
alone for a second, so an outage does not cost every request a connection
attempt.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.exceptions import RedisError

from .errors import ServiceUnavailable

log = logging.getLogger(__name__)

# Seconds after a failure during which Redis is not asked again.
REST_SECONDS = 1.0
RETRY_AFTER_SECONDS = 5


class RateLimited(Exception):
    """Too many requests of one kind; answered with 429 and Retry-After."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"too many requests; retry after {retry_after} s")


# INCR, and the window's expiry on the first event, in one atomic step and
# one round trip. Django's cache.incr takes two (EXISTS, then INCR), each
# through a Redis client it builds anew, which cost more CPU than the claim's
# queries; and a key expiring between the two came back from INCR without an
# expiry, so its count never ended (such a key gets one here).
_INCR_IN_WINDOW = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('TTL', KEYS[1]) == -1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
"""
_counter: list = []


def _redis_counter():
    """The script on the cache's Redis, or None for another cache (the
    embedded mode's local memory). One per process: a Redis client is
    thread-safe and builds its connections from the cache's pool."""
    if not _counter:
        # Imported on first use: the embedded mode's cache is not Redis.
        from django.core.cache.backends.redis import RedisCache

        backend = caches["default"]
        script = None
        if isinstance(backend, RedisCache):
            script = backend._cache.get_client(write=True).register_script(_INCR_IN_WINDOW)
        _counter.append(script)
    return _counter[0]


@receiver(setting_changed)
def _forget_counter(setting: str, **kwargs) -> None:
    # The script is bound to the cache's client: a new cache, a new script.
    if setting == "CACHES":
        _counter.clear()


class _Outage:
    """When this process's counters last failed, and since when they fail.
    Shared by the threads of a process; their races only move the times by
    a request or two."""

    since: float | None = None
    last: float = 0.0

    def resting(self) -> bool:
        return self.since is not None and time.monotonic() - self.last < REST_SECONDS

    def failed(self) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
        self.last = now

    def recovered(self) -> None:
        if self.since is not None:
            log.warning("rate limits: Redis answers again")
        self.since = None

    def lasted(self) -> float:
        return 0.0 if self.since is None else time.monotonic() - self.since


_outage = _Outage()


def hit(key: str, window: int) -> int:
    """Count one event in the window that starts with the key's first event;
    ServiceUnavailable if the counters cannot be reached."""
    if _outage.resting():
        raise ServiceUnavailable("The rate limiter is unavailable.", RETRY_AFTER_SECONDS)
    try:
        count = _hit(key, window)
    except (RedisError, OSError) as exc:
        if _outage.since is None:
            log.warning("rate limits: Redis does not answer (%s)", exc)
        _outage.failed()
        raise ServiceUnavailable("The rate limiter is unavailable.", RETRY_AFTER_SECONDS) from exc
    _outage.recovered()
    return count


def _hit(key: str, window: int) -> int:
    """On Redis, one script: INCR, and EXPIRE on the window's first event.
    Elsewhere, one round trip when the window is open (INCR keeps the key's
    expiry); the first event of a window adds the key with its timeout."""
    counter = _redis_counter()
    if counter is not None:
        return int(counter(keys=[cache.make_and_validate_key(key)], args=[window]))
    for _ in range(3):
        try:
            return cache.incr(key)
        except ValueError:
            # No window yet: open one. If another request opened it first,
            # add() fails and the next incr() counts in that window.
            if cache.add(key, 1, timeout=window):
                return 1
    return cache.incr(key)


def check_rate(scope: str, user_id: int) -> None:
    """Raise RateLimited when ``user_id`` is over the limit of ``scope``
    (settings.ACCORD_RATES: scope → (requests, window seconds)), and
    ServiceUnavailable when the counters have been unreachable for longer
    than ACCORD_RATE_FAIL_OPEN_SECONDS."""
    limit, window = settings.ACCORD_RATES[scope]
    try:
        count = hit(f"accord:rate:{scope}:{user_id}", window)
    except ServiceUnavailable:
        if _outage.lasted() < settings.ACCORD_RATE_FAIL_OPEN_SECONDS:
            return  # uncounted: a short outage must not stop the annotators
        raise
    if count > limit:
        raise RateLimited(window)
