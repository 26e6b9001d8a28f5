"""Circuit breakers for the database, file storage and the shared cache (pybreaker).

A breaker counts only its dependency's own failures (`portal.resilience.failures`): a file
name the file system refuses, a statement cancelled by its timeout or a missing object is one
request's problem and never opens a breaker that every tenant shares.

A breaker opens after `BREAKER_FAIL_MAX` consecutive failures. While open, calls fail at once
(the API answers 503 SERVICE_UNAVAILABLE with Retry-After). The first trial is let through
`BREAKER_FIRST_RESET_SECONDS` after opening; each failed trial doubles the wait, up to
`BREAKER_RESET_TIMEOUT`. `/v1/health` is a trial too: while a breaker is open it probes the
dependency directly (at most once a second per process) and closes the breaker when it answers,
so recovery follows the first health probe after the dependency is back.

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
from django.conf import settings
from django.core.cache import caches
from django.http import HttpResponseBase
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from portal.errors import ServiceUnavailableError
from portal.formats import rfc3339
from portal.observability import request_context
from portal.resilience.failures import is_cache_failure, is_database_outage, is_storage_failure

logger = logging.getLogger("portal.breakers")
T = TypeVar("T")

CACHE_ERRORS: tuple[type[Exception], ...] = (ConnectionInterrupted, RedisError, OSError)
CLASSIFIERS: dict[str, Callable[[BaseException], bool]] = {
    "database": is_database_outage,
    "storage": is_storage_failure,
    "cache": is_cache_failure,
}


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
        self._seen.pop(key, None)
        self._cache.incr_or_start(self._prefix + key)

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

    @property
    def failed_trials(self) -> int:
        return int(self._read("failed_trials", 0) or 0)

    @failed_trials.setter
    def failed_trials(self, value: int) -> None:
        self._cache.set(self._prefix + "failed_trials", value, None)
        self._seen["failed_trials"] = (time.monotonic(), value)


class MemoryStorage(pybreaker.CircuitMemoryStorage):
    """Per-process state (the cache breaker), with the failed-trial count back-off needs."""

    failed_trials: int = 0


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


class PortalBreaker(pybreaker.CircuitBreaker):
    """A breaker that counts only `counts_as_failure` errors and backs off its trials.

    Errors it does not count are what pybreaker calls business errors: the dependency answered,
    so they count as its success. The reset timeout starts at BREAKER_FIRST_RESET_SECONDS and
    doubles with every failed trial, up to BREAKER_RESET_TIMEOUT.
    """

    def __init__(
        self,
        name: str,
        storage: pybreaker.CircuitBreakerStorage,
        counts_as_failure: Callable[[BaseException], bool],
    ) -> None:
        super().__init__(
            name=name,
            fail_max=settings.BREAKER_FAIL_MAX,
            reset_timeout=settings.BREAKER_RESET_TIMEOUT,
            state_storage=storage,
            listeners=[LogListener()],
            exclude=[lambda exc: not counts_as_failure(exc)],
        )
        self.counts_as_failure = counts_as_failure
        # pybreaker keeps the storage it was given privately; this breaker keeps its own handle.
        self.storage: Any = storage

    @property
    def reset_timeout(self) -> float:
        cap = float(settings.BREAKER_RESET_TIMEOUT)
        first = min(float(settings.BREAKER_FIRST_RESET_SECONDS), cap)
        trials = min(int(getattr(self.storage, "failed_trials", 0)), 16)
        return float(min(cap, first * 2**trials))

    @reset_timeout.setter
    def reset_timeout(self, timeout: float) -> None:
        self.configured_reset_timeout = timeout  # the backoff above decides

    def open(self) -> bool:
        storage = self.storage
        # From half-open, a trial failed: wait longer next time. From closed: start afresh.
        storage.failed_trials = (
            storage.failed_trials + 1 if self.current_state == pybreaker.STATE_HALF_OPEN else 0
        )
        return bool(super().open())

    def close(self) -> None:
        super().close()
        self.storage.reset_counter()
        self.storage.failed_trials = 0


class Breakers:
    """The process's breakers, built on first use so settings overrides apply."""

    CRITICAL = ("database",)

    def __init__(self) -> None:
        self._built: dict[str, PortalBreaker] = {}

    def _get(self, name: str) -> PortalBreaker:
        if name not in self._built:
            storage = (
                MemoryStorage(pybreaker.STATE_CLOSED)
                if name == "cache"
                else SharedCacheStorage(name)
            )
            self._built[name] = PortalBreaker(name, storage, CLASSIFIERS[name])
        return self._built[name]

    @property
    def database(self) -> PortalBreaker:
        return self._get("database")

    @property
    def storage(self) -> PortalBreaker:
        return self._get("storage")

    @property
    def cache(self) -> PortalBreaker:
        return self._get("cache")

    def all(self) -> list[PortalBreaker]:
        return [self.database, self.storage, self.cache]

    def reset(self) -> None:
        """Forgets every breaker (tests, and settings changes)."""
        for breaker in self._built.values():
            if breaker.name != "cache":
                breaker.close()
        self._built.clear()
        _last_trial.clear()


breakers = Breakers()


@dataclass(frozen=True)
class BreakerView:
    state: str
    failures: int
    opened_at: datetime | None
    retry_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "failures": self.failures,
            "openedAt": rfc3339(self.opened_at) if self.opened_at else None,
            "retryAt": rfc3339(self.retry_at) if self.retry_at else None,
        }


def describe(breaker: PortalBreaker) -> BreakerView:
    """The breaker as health reports it. An open breaker whose retry time has passed lets the
    next call through as its trial, so it is reported as half-open (awaiting a trial)."""
    storage = breaker.storage
    state = breaker.current_state
    if state == pybreaker.STATE_CLOSED:
        return BreakerView(
            state=state, failures=breaker.fail_counter, opened_at=None, retry_at=None
        )
    opened_at = storage.opened_at
    retry_at = opened_at + timedelta(seconds=breaker.reset_timeout) if opened_at else None
    if state == pybreaker.STATE_OPEN and (retry_at is None or retry_at <= datetime.now(UTC)):
        state = pybreaker.STATE_HALF_OPEN
    return BreakerView(
        state=state,
        failures=breaker.fail_counter,
        opened_at=opened_at,
        retry_at=retry_at,
    )


def not_closed() -> dict[str, BreakerView]:
    """The breakers health must list: every one that is open or half-open."""
    views = {b.name: describe(b) for b in breakers.all() if b.name}
    return {name: view for name, view in views.items() if view.state != pybreaker.STATE_CLOSED}


def retry_after(breaker: PortalBreaker) -> int:
    """Seconds until the breaker lets a probe through (at least 1)."""
    opened_at = breaker.storage.opened_at
    if opened_at is None:
        return max(1, int(breaker.reset_timeout))
    remaining = opened_at.timestamp() + breaker.reset_timeout - time.time()
    return max(1, int(remaining + 0.999))


_last_trial: dict[str, float] = {}


def trial(breaker: PortalBreaker, probe: Callable[[], object]) -> bool:
    """Health's trial of a breaker that is not closed: probes the dependency directly, at most
    once a second per process, and closes the breaker when the probe succeeds. Returns whether
    the dependency answered (False when throttled and still open)."""
    if breaker.current_state == pybreaker.STATE_CLOSED:
        return True
    now = time.monotonic()
    name = breaker.name or ""
    if now - _last_trial.get(name, 0.0) < 1.0:
        return False
    _last_trial[name] = now
    try:
        probe()
    except Exception as exc:
        if breaker.counts_as_failure(exc):
            logger.info("Trial of the %s breaker failed: %s", name, exc)
            return False
        raise
    breaker.close()
    logger.info("The %s answered a health trial; breaker closed", name)
    return True


LABELS = {"database": "database", "storage": "file storage", "cache": "shared cache"}


def guard(breaker: PortalBreaker, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs `func` through `breaker`. An open breaker, or an error that means the dependency is
    failing, becomes a 503 problem naming the dependency. Any other error is the caller's to
    handle: it is about this request, and the breaker took it as a sign of life."""
    label = LABELS.get(breaker.name or "", "service")
    try:
        return breaker.call(func, *args, **kwargs)
    except pybreaker.CircuitBreakerError:
        raise ServiceUnavailableError(label, retry_after(breaker)) from None
    except Exception as exc:
        if not breaker.counts_as_failure(exc):
            raise
        logger.warning("%s failed: %s", label, exc)
        raise ServiceUnavailableError(label, 1) from exc


class DatabaseFailedError(Exception):
    """Carries the 503 response of a request that failed because the database is down, so the
    breaker counts it while the client still gets its problem document."""

    def __init__(self, response: HttpResponseBase) -> None:
        super().__init__("database unavailable")
        self.response = response


CLASSIFIERS["database"] = lambda exc: (
    isinstance(exc, DatabaseFailedError) or is_database_outage(exc)
)


def mark_database_outage(exc: BaseException) -> bool:
    """Records on the current request's context that it failed because the database is down
    (counted by portal.resilience.database_breaker); returns whether that was the case."""
    if not is_database_outage(exc):
        return False
    context = request_context.current()
    if context is not None:
        context.database_failed = True
    logger.warning("Database unavailable: %s", exc)
    return True
