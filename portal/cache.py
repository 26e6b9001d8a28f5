"""The `shared` cache: Redis behind the `cache` circuit breaker, with a process-local fallback.

Rate-limit counters and the database/storage breakers' state live here. While Redis answers,
they are exact across every worker and instance. While it does not, the breaker opens after a
few failures, and each process keeps counting in its own memory: limits then hold per
process instead of globally, and the API keeps serving at full speed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.locmem import LocMemCache
from pybreaker import CircuitBreakerError

from portal.breakers import CACHE_ERRORS, breakers

logger = logging.getLogger("portal.cache")


class FailoverCache(BaseCache):
    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._primary_alias: str = params.get("OPTIONS", {}).get("PRIMARY", "default")
        self._fallback = LocMemCache(f"portal-failover-{location}", {"TIMEOUT": None})

    def _run(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        primary = caches[self._primary_alias]
        try:
            return breakers.cache.call(getattr(primary, operation), *args, **kwargs)
        except CircuitBreakerError:
            pass
        except CACHE_ERRORS as exc:
            logger.warning("Shared cache failed (%s); using the process-local fallback", exc)
        return getattr(self._fallback, operation)(*args, **kwargs)

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        return self._run("add", key, value, timeout, version)

    def get(self, key: str, default: Any = None, version: Any = None) -> Any:
        return self._run("get", key, default, version)

    def set(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        self._run("set", key, value, timeout, version)

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        return self._run("touch", key, timeout, version)

    def delete(self, key: str, version: Any = None) -> Any:
        return self._run("delete", key, version)

    def incr(self, key: str, delta: int = 1, version: Any = None) -> Any:
        return self._run("incr", key, delta, version)

    def incr_or_start(self, key: str) -> None:
        """Counts one more under `key` (never expiring), starting at 1 if it is missing or
        vanished between the two calls."""
        if not self.add(key, 1, None):
            try:
                self.incr(key)
            except ValueError:
                self.set(key, 1, None)

    def has_key(self, key: str, version: Any = None) -> Any:
        return self._run("has_key", key, version)

    def clear(self) -> None:
        self._fallback.clear()
        self._run("clear")
