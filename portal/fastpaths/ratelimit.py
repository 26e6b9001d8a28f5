"""django-ratelimit's window and cache key for a caller, computed directly.

django-ratelimit's `get_usage` counts with two round trips to the cache (an `add`, then an
`incr`). The API counts with one atomic increment-with-expiry instead
(`FailoverCache.incr_window`), and usually inside the round trip that checks the token
(`portal.fastpaths.shared_reads`), so it needs the key django-ratelimit would use, which only
its private helpers compute. The keys are the same, so both paths count in the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass

from django_ratelimit import core as ratelimit_core


@dataclass(frozen=True)
class Window:
    """Where a caller's request is counted: django-ratelimit's cache key for the caller's
    current fixed window (its windows are staggered per key), and when that window ends."""

    key: str
    expiry: int
    limit: int
    ends: int


def window(group: str, rate: str, value: str) -> Window:
    """The window `value` (the caller's key) is counted in under `group` at `rate`, as
    `django_ratelimit.core.get_usage(group=group, rate=rate, method=ALL)` keys it."""
    limit, period = ratelimit_core._split_rate(rate)
    ends = ratelimit_core._get_window(value, period)
    key = ratelimit_core._make_cache_key(group, ends, rate, value, ratelimit_core.ALL)
    return Window(key, period + ratelimit_core.EXPIRATION_FUDGE, int(limit), int(ends))
