"""Per-user rate limits with atomic counters on the cache.

Add-then-increment (Redis INCR in server mode) so parallel requests each see
their own count and at most the limit pass; a read-then-write counter lets a
burst through together (SECURITY.md D6).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache, caches


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
        from django.core.cache.backends.redis import RedisCache

        backend = caches["default"]
        script = None
        if isinstance(backend, RedisCache):
            script = backend._cache.get_client(write=True).register_script(_INCR_IN_WINDOW)
        _counter.append(script)
    return _counter[0]


def hit(key: str, window: int) -> int:
    """Count one event in the window that starts with the key's first event.

    On Redis, one script: INCR, and EXPIRE on the window's first event.
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
    (settings.ACCORD_RATES: scope → (requests, window seconds))."""
    limit, window = settings.ACCORD_RATES[scope]
    if hit(f"accord:rate:{scope}:{user_id}", window) > limit:
        raise RateLimited(window)
