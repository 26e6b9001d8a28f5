"""Circuit breakers for the database, file storage and the shared cache (pybreaker).

A breaker opens after `BREAKER_FAIL_MAX` consecutive failures. While open, calls fail at once
(the API answers 503 SERVICE_UNAVAILABLE with Retry-After). After `BREAKER_RESET_TIMEOUT`
seconds one call is let through (half-open); success closes it, failure opens it again.

The database and storage breakers keep their state in the `shared` cache, so with Redis every
worker sees the same breaker. The cache breaker guards Redis itself, so its state is per
process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pybreaker
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.cache import caches
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponseBase
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

logger = logging.getLogger("portal.breakers")
T = TypeVar("T")

CACHE_ERRORS: tuple[type[Exception], ...] = (ConnectionInterrupted, RedisError, OSError)
# Connection-level database failures; integrity and data errors are the caller's business.
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
STORAGE_ERRORS: tuple[type[Exception], ...] = (OSError, BotoCoreError, ClientError)


class SharedCacheStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker state kept in the `shared` cache (Redis when configured).

    pybreaker reads its state several times per guarded call. Reads are remembered in the
    process for BREAKER_STATE_CACHE_MS (1 s), and writes that would not change what this
    process last saw are skipped, so a healthy request costs no Redis round trip for breaker
    state; another worker's open breaker is seen here at most that much later.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._prefix = f"breaker:{name}:"
        self._seen: dict[str, tuple[float, Any]] = {}

    @property
    def _cache(self) -> Any:
        return caches["shared"]

    def _fresh(self, key: str) -> tuple[bool, Any]:
        ttl = settings.BREAKER_STATE_CACHE_MS / 1000
        seen = self._seen.get(key)
        if ttl and seen is not None and time.monotonic() - seen[0] < ttl:
            return True, seen[1]
        return False, None

    def _read(self, key: str, default: Any) -> Any:
        fresh, value = self._fresh(key)
        if fresh:
            return value
        value = self._cache.get(self._prefix + key, default)
        self._seen[key] = (time.monotonic(), value)
        return value

    def _write(self, key: str, value: Any) -> None:
        fresh, seen = self._fresh(key)
        if fresh and seen == value:
            return
        self._cache.set(self._prefix + key, value, None)
        self._seen[key] = (time.monotonic(), value)

    def _incr(self, key: str) -> None:
        full = self._prefix + key
        self._seen.pop(key, None)
        if not self._cache.add(full, 1, None):
            try:
                self._cache.incr(full)
            except ValueError:
                self._cache.set(full, 1, None)

    @property
    def state(self) -> str:
        return str(self._read("state", pybreaker.STATE_CLOSED))

    @state.setter
    def state(self, state: str) -> None:
        # Always written: a state change is what other workers must learn.
        self._cache.set(self._prefix + "state", state, None)
        self._seen["state"] = (time.monotonic(), state)

    def increment_counter(self) -> None:
        self._incr("failures")

    def reset_counter(self) -> None:
        self._write("failures", 0)

    def increment_success_counter(self) -> None:
        self._incr("successes")

    def reset_success_counter(self) -> None:
        self._write("successes", 0)

    @property
    def counter(self) -> int:
        return int(self._read("failures", 0) or 0)

    @property
    def success_counter(self) -> int:
        return int(self._read("successes", 0) or 0)

    @property
    def opened_at(self) -> datetime | None:
        value = self._read("opened_at", None)
        return datetime.fromtimestamp(value, tz=UTC) if value else None

    @opened_at.setter
    def opened_at(self, when: datetime) -> None:
        self._cache.set(self._prefix + "opened_at", when.timestamp(), None)
        self._seen["opened_at"] = (time.monotonic(), when.timestamp())


class LogListener(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        old = getattr(old_state, "name", None)
        level = logging.WARNING if new_state.name != pybreaker.STATE_CLOSED else logging.INFO
        logger.log(
            level,
            "Circuit breaker %s: %s -> %s",
            cb.name,
            old,
            new_state.name,
            extra={"breaker": cb.name, "from_state": old, "to_state": new_state.name},
        )


def _breaker(name: str, storage: pybreaker.CircuitBreakerStorage) -> pybreaker.CircuitBreaker:
    return pybreaker.CircuitBreaker(
        name=name,
        fail_max=settings.BREAKER_FAIL_MAX,
        reset_timeout=settings.BREAKER_RESET_TIMEOUT,
        state_storage=storage,
        listeners=[LogListener()],
    )


class Breakers:
    """The process's breakers, built on first use so settings overrides apply."""

    CRITICAL = ("database",)

    def __init__(self) -> None:
        self._built: dict[str, pybreaker.CircuitBreaker] = {}

    def _get(self, name: str) -> pybreaker.CircuitBreaker:
        if name not in self._built:
            storage = (
                pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
                if name == "cache"
                else SharedCacheStorage(name)
            )
            self._built[name] = _breaker(name, storage)
        return self._built[name]

    @property
    def database(self) -> pybreaker.CircuitBreaker:
        return self._get("database")

    @property
    def storage(self) -> pybreaker.CircuitBreaker:
        return self._get("storage")

    @property
    def cache(self) -> pybreaker.CircuitBreaker:
        return self._get("cache")

    def all(self) -> list[pybreaker.CircuitBreaker]:
        return [self.database, self.storage, self.cache]

    def reset(self) -> None:
        """Forgets every breaker (tests, and settings changes)."""
        for breaker in self._built.values():
            if breaker.name != "cache":
                breaker.close()
        self._built.clear()


breakers = Breakers()


@dataclass(frozen=True)
class BreakerView:
    state: str
    failures: int
    opened_at: datetime | None
    retry_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        from portal.api import rfc3339

        return {
            "state": self.state,
            "failures": self.failures,
            "openedAt": rfc3339(self.opened_at) if self.opened_at else None,
            "retryAt": rfc3339(self.retry_at) if self.retry_at else None,
        }


def describe(breaker: pybreaker.CircuitBreaker) -> BreakerView:
    storage = breaker._state_storage
    opened_at = storage.opened_at
    retry_at = opened_at + timedelta(seconds=breaker.reset_timeout) if opened_at else None
    return BreakerView(
        state=breaker.current_state,
        failures=breaker.fail_counter,
        opened_at=opened_at if breaker.current_state != pybreaker.STATE_CLOSED else None,
        retry_at=retry_at if breaker.current_state != pybreaker.STATE_CLOSED else None,
    )


def not_closed() -> dict[str, BreakerView]:
    """The breakers health must list: every one that is open or half-open."""
    views = {b.name: describe(b) for b in breakers.all() if b.name}
    return {name: view for name, view in views.items() if view.state != pybreaker.STATE_CLOSED}


def retry_after(breaker: pybreaker.CircuitBreaker) -> int:
    """Seconds until the breaker lets a probe through (at least 1)."""
    opened_at = breaker._state_storage.opened_at
    if opened_at is None:
        return max(1, int(breaker.reset_timeout))
    remaining = opened_at.timestamp() + breaker.reset_timeout - time.time()
    return max(1, int(remaining + 0.999))


def guard(
    breaker: pybreaker.CircuitBreaker,
    func: Callable[..., T],
    *args: Any,
    failures: tuple[type[Exception], ...] = (),
    **kwargs: Any,
) -> T:
    """Runs `func` through `breaker`. An open breaker, or one of `failures`, becomes a 503
    problem naming the dependency; the failure is counted by the breaker either way."""
    from portal.problems import ServiceUnavailable

    label = {"storage": "file storage", "cache": "shared cache"}.get(breaker.name or "", "service")
    try:
        return breaker.call(func, *args, **kwargs)
    except pybreaker.CircuitBreakerError:
        raise ServiceUnavailable(label, retry_after(breaker)) from None
    except failures as exc:
        logger.warning("%s failed: %s", label, exc)
        raise ServiceUnavailable(label, 1) from exc


class DatabaseFailedError(Exception):
    """Carries the 503 response of a request that failed on the database, so the breaker
    counts it while the client still gets its problem document."""

    def __init__(self, response: HttpResponseBase) -> None:
        super().__init__("database unavailable")
        self.response = response


class DatabaseBreakerMiddleware:
    """Fails fast while the database breaker is open; counts database failures and successes.

    Views report a failure by setting `request.database_failed` (the DRF exception handler and
    `process_exception` below do), which keeps the count in one place.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        from portal.problems import service_unavailable_response

        if not request.path.startswith("/v1/") or request.path == "/v1/health":
            # Health probes the database through the breaker itself; other paths are the
            # admin and docs, which report their own errors.
            return self.get_response(request)

        def run() -> HttpResponseBase:
            response = self.get_response(request)
            if getattr(request, "database_failed", False):
                raise DatabaseFailedError(response)
            return response

        database = breakers.database
        try:
            return database.call(run)
        except DatabaseFailedError as failure:
            return failure.response
        except pybreaker.CircuitBreakerError:
            return service_unavailable_response("database", retry_after(database))

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        from portal.problems import service_unavailable_response

        if isinstance(exception, DATABASE_ERRORS):
            request.database_failed = True  # type: ignore[attr-defined]
            logger.warning("Database unavailable: %s", exception)
            return service_unavailable_response("database", retry_after(breakers.database))
        return None
