"""Per-user rate limits with atomic counters on the cache.

Add-then-increment (Redis INCR in server mode) so parallel requests each see
their own count and at most the limit pass; a read-then-write counter lets a
burst through together (SECURITY.md D6).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


class RateLimited(Exception):
    """Too many requests of one kind; answered with 429 and Retry-After."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"too many requests; retry after {retry_after} s")


def hit(key: str, window: int) -> int:
    """Count one event in the window that starts with the key's first event.

    One round trip when the window is open (INCR keeps the key's expiry);
    the first event of a window adds the key with its timeout."""
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
