"""Per-user rate limits on running actions and starting sign-ins (fixed windows in the cache).

With several workers or hosts the cache must be shared (CACHE_URL=redis://...); the default
in-process cache limits each worker on its own.
"""

import math
import time

from django.conf import settings
from django.core.cache import cache


class RateLimited(Exception):
    def __init__(self, *, what: str, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"Too many {what}; try again in {retry_after} s.")


def hit(scope: str, *, user_id: int, what: str) -> None:
    """Count one `scope` event for the user; RateLimited once over the configured rate."""
    rate = settings.ACTIONS_RATE_LIMITS.get(scope)
    if rate is None:
        return
    now = time.time()
    window = int(now // rate.seconds)
    key = f"ratelimit:{scope}:{user_id}:{window}"
    cache.add(key, 0, timeout=rate.seconds + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this is the first of a new window
        cache.add(key, 1, timeout=rate.seconds + 1)
        count = 1
    if count > rate.count:
        retry_after = max(1, math.ceil((window + 1) * rate.seconds - now))
        raise RateLimited(what=what, retry_after=retry_after)
