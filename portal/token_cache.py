"""Resolved bearer tokens, kept per process so a request costs no token query, with revocation
that takes effect at once in every worker.

Every process keeps `key_hash → (generation, token with its tenant)` for up to TOKEN_CACHE_SIZE
tokens. The generation is one integer in the shared cache (Redis in production): any change to
any token or tenant — a save, a delete, a queryset update (the admin's bulk revoke, a rotation)
— bumps it after commit, and a worker uses a cached token only while the generation it was
loaded under is still current. Checking costs one cache read per request instead of a database
query. While the shared cache's breaker is not closed, a generation cannot be trusted (another
worker's revocation may not have reached this one) and tokens are looked up in the database.
Entries also expire after TOKEN_CACHE_SECONDS, a bound for changes made behind Django's back.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import pybreaker
from django.conf import settings
from django.core.cache import caches
from django.db import transaction

from portal.breakers import breakers

GENERATION_KEY = "auth:generation"
T = TypeVar("T")

_entries: OrderedDict[str, tuple[int, float, Any]] = OrderedDict()
_lock = threading.Lock()


def _generation() -> int | None:
    if breakers.cache.current_state != pybreaker.STATE_CLOSED:
        return None
    value = caches["shared"].get(GENERATION_KEY)
    if breakers.cache.current_state != pybreaker.STATE_CLOSED:
        return None  # the read just failed over: not a generation every worker shares
    return int(value or 0)


def cached(key: str, load: Callable[[], T | None]) -> T | None:
    """The value for `key`, from this process if still current, else `load()` (not kept when
    it returns None, so unknown tokens are always looked up)."""
    size = settings.TOKEN_CACHE_SIZE
    generation = _generation() if size else None
    if generation is None:
        return load()
    now = time.monotonic()
    with _lock:
        entry = _entries.get(key)
        if (
            entry is not None
            and entry[0] == generation
            and now - entry[1] < settings.TOKEN_CACHE_SECONDS
        ):
            _entries.move_to_end(key)
            return entry[2]  # type: ignore[no-any-return]
    value = load()
    if value is not None:
        with _lock:
            _entries[key] = (generation, now, value)
            _entries.move_to_end(key)
            while len(_entries) > size:
                _entries.popitem(last=False)
    return value


def auth_changed() -> None:
    """Retires every cached token in every worker (after the surrounding commit)."""

    def bump() -> None:
        caches["shared"].incr_or_start(GENERATION_KEY)  # type: ignore[attr-defined]
        forget()

    transaction.on_commit(bump)


def forget() -> None:
    with _lock:
        _entries.clear()
