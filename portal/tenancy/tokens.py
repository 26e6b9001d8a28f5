"""Resolved bearer tokens, kept per process so a request costs no token query, with revocation
that takes effect at once in every worker.

Every process keeps `key_hash → (generation, token with its tenant)` for up to TOKEN_CACHE_SIZE
tokens. The generation is one integer in the shared cache (Redis in production): any change to
any token or tenant — a save, a delete, a queryset update (the admin's bulk revoke, a rotation)
— bumps it after commit, and a worker uses a cached token only while the generation it was
loaded under is still current. Checking costs one cache read per request instead of a database
query; what else the request needs from the shared cache can ride in that round trip
(`cached(..., also=...)`, portal/fastpaths/shared_reads.py). While the shared cache's breaker is
not closed, a generation cannot be trusted (another worker's revocation may not have reached
this one) and tokens are looked up in the database. Entries also expire after
TOKEN_CACHE_SECONDS, a bound for changes made behind Django's back.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import pybreaker
from django.conf import settings
from django.core.cache import caches
from django.db import transaction

from portal.resilience.breakers import breakers
from portal.resilience.cache import fresh_generation

GENERATION_KEY = "auth:generation"
T = TypeVar("T")

_entries: OrderedDict[str, tuple[int, float, Any]] = OrderedDict()
_lock = threading.Lock()


class AlsoAsked(Protocol):
    """What else a request asks of the shared cache in the token check's round trip
    (`portal.fastpaths.shared_reads.SharedReads`): planned for the token held, delivered once
    the check has passed."""

    def plan(self, subject: Any) -> tuple[tuple[str, int] | None, list[str]]: ...

    def deliver(
        self,
        counter: tuple[str, int] | None,
        count: int | None,
        keys: list[str],
        values: list[Any] | None,
    ) -> None: ...


def cached(key: str, load: Callable[[], T | None], also: AlsoAsked | None = None) -> T | None:
    """The value for `key`, from this process if still current, else `load()` (not kept when
    it returns None, so unknown tokens are always looked up). When the value is this
    process's, `also` is planned for it and sent with the generation check: one count in the
    window it names and the values under its keys, taken only if the check passes (a value no
    longer current is never counted), and delivered to it."""
    size = settings.TOKEN_CACHE_SIZE
    if not size:
        return load()
    _catch_up()
    now = time.monotonic()
    with _lock:
        entry = _entries.get(key)
    held = entry if entry is not None and now - entry[1] < settings.TOKEN_CACHE_SECONDS else None
    counter, wanted = also.plan(held[2]) if held is not None and also is not None else (None, [])
    shared: Any = caches["shared"]
    # With nothing current held, expecting -1 (never a generation) just reads the generation.
    checked = shared.check_and_count(GENERATION_KEY, held[0] if held else -1, counter, wanted)
    if checked is None:
        return load()  # no generation every worker shares: the database decides
    generation, count, values = checked
    if held is not None and generation == held[0]:
        with _lock:
            if key in _entries:
                _entries.move_to_end(key)
        if also is not None:
            also.deliver(counter, count, wanted, values if wanted else None)
        kept: T = held[2]
        return kept
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
        forget()
        _bump()

    transaction.on_commit(bump)


# A change made while the shared cache was not answering: its bump never reached the other
# workers, who may still hold the old token under the old generation. It is made again, in
# the shared cache, by the first check of this process that finds the cache answering.
_pending = [False]


def _bump() -> None:
    shared: Any = caches["shared"]
    _pending[0] = not shared.incr_or_start_shared(GENERATION_KEY, fresh_generation())


def _catch_up() -> None:
    if _pending[0] and breakers.cache.current_state == pybreaker.STATE_CLOSED:
        with _lock:
            _entries.clear()
        _bump()


def forget() -> None:
    with _lock:
        _entries.clear()
