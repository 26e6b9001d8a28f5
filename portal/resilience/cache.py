"""The `shared` cache: Redis behind the `cache` circuit breaker, with a process-local fallback.

Rate-limit counters and the database/storage breakers' state live here. While Redis answers,
they are exact across every worker and instance. While it does not, the breaker opens after a
few failures, and each process keeps counting in its own memory: limits then hold per
process instead of globally, and the API keeps serving at full speed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import pybreaker
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.locmem import LocMemCache
from pybreaker import CircuitBreakerError

from portal.resilience.breakers import CACHE_ERRORS, breakers

logger = logging.getLogger("portal.cache")


# A generation and the value kept under it, read in one round trip (list totals).
GET_GENERATIONAL = """
local generation = redis.call('GET', KEYS[1])
local value = redis.call('GET', ARGV[1] .. (generation or '0') .. ARGV[2])
return {generation or false, value or false}
"""


# A fixed-window counter: one more, with the window's expiry set when the window opens.
INCR_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


# A generation checked against the one a worker holds and, only when it still holds, a
# fixed-window count (INCR_WINDOW's) and plain reads of further keys, all in the same round
# trip (token cache + rate limit + the tenant's list-total generations). KEYS: the generation,
# the window's counter when ARGV[2] (its expiry) is not empty, then the keys to read.
CHECK_AND_COUNT = """
local generation = redis.call('GET', KEYS[1]) or '0'
if generation ~= ARGV[1] then return {generation, false} end
local result = {generation, false}
local first = 2
if ARGV[2] ~= '' then
  local count = redis.call('INCR', KEYS[2])
  if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
  result[2] = count
  first = 3
end
for i = first, #KEYS do result[#result + 1] = redis.call('GET', KEYS[i]) end
return result
"""


def fresh_generation() -> int:
    """Where a generation starts when its key is missing: a random 48-bit number. Redis keeps
    nothing across a restart or a flush, and a generation that started again at 1 would come
    back, after a few changes, to a number a worker still holds for an earlier state (a token
    since revoked, a total since changed); a random start never meets an earlier one."""
    return secrets.randbits(48)


# What `FailoverCache._on_shared` returns when the shared cache did not answer.
FAILED_OVER: Any = object()


class FailoverCache(BaseCache):
    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._scripts: dict[tuple[int, str], Any] = {}
        self._primary_alias: str = params.get("OPTIONS", {}).get("PRIMARY", "default")
        self._fallback = LocMemCache(f"portal-failover-{location}", {"TIMEOUT": None})

    @staticmethod
    def _on_shared(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`call(*args, **kwargs)` on the shared cache through its breaker; FAILED_OVER when
        the breaker is open or the call failed (logged), so the caller uses the fallback."""
        try:
            return breakers.cache.call(call, *args, **kwargs)
        except CircuitBreakerError:
            return FAILED_OVER
        except CACHE_ERRORS as exc:
            logger.warning("Shared cache failed (%s); using the process-local fallback", exc)
            return FAILED_OVER

    def _primary(self) -> Any:
        return caches[self._primary_alias]

    def _on_redis(self) -> Any:
        """The shared cache when it is Redis (scripts run there), else None."""
        primary = self._primary()
        return primary if hasattr(getattr(primary, "client", None), "get_client") else None

    def _run(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        found = self._on_shared(getattr(self._primary(), operation), *args, **kwargs)
        if found is not FAILED_OVER:
            return found
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

    def incr_or_start(self, key: str, start: int = 1) -> None:
        """Counts one more under `key` (never expiring), starting at `start` if it is missing
        or vanished between the two calls."""
        self._incr_or_start_on(self, key, start)

    def incr_or_start_shared(self, key: str, start: int = 1) -> bool:
        """`incr_or_start`, reporting whether the shared cache itself took it (False: it
        went to this process's fallback, and no other worker saw it)."""
        taken = self._on_shared(self._incr_or_start_on, self._primary(), key, start)
        if taken is not FAILED_OVER:
            return True
        self._incr_or_start_on(self._fallback, key, start)
        return False

    @staticmethod
    def _incr_or_start_on(cache: BaseCache, key: str, start: int) -> None:
        if not cache.add(key, start, None):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, start, None)

    def incr_window(self, key: str, timeout: int) -> int:
        """Counts one more under `key`, which expires `timeout` seconds after its first count;
        returns the count. On Redis one round trip (a Lua script); elsewhere add, then incr."""
        primary = self._on_redis()
        if primary is None:
            return self._local_incr_window(self, key, timeout)
        count = self._on_shared(self._redis_incr_window, primary, key, timeout)
        if count is not FAILED_OVER:
            return int(count)
        return self._local_incr_window(self._fallback, key, timeout)

    @staticmethod
    def _local_incr_window(cache: BaseCache, key: str, timeout: int) -> int:
        if cache.add(key, 1, timeout):
            return 1
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between the two calls: a new window
            cache.set(key, 1, timeout)
            return 1

    def _redis_incr_window(self, primary: Any, key: str, timeout: int) -> Any:
        client = primary.client
        script = self._script(client, INCR_WINDOW, write=True)
        return script(keys=[str(client.make_key(key))], args=[timeout])

    def _script(self, client: Any, source: str, *, write: bool) -> Any:
        """A registered script (EVALSHA, loaded on first use) on this Redis connection."""
        redis = client.get_client(write=write)
        script = self._scripts.get((id(redis), source))
        if script is None:
            script = self._scripts[(id(redis), source)] = redis.register_script(source)
        return script

    def check_and_count(
        self,
        generation_key: str,
        expected: int,
        window: tuple[str, int] | None,
        reads: Sequence[str] = (),
    ) -> tuple[int, int | None, list[Any] | None] | None:
        """The generation counted under `generation_key` and, when it is still `expected`, one
        more count in `window` (a key and its expiry, as `incr_window`) and the values under
        `reads`, as (generation, count or None, values or None). None when the shared cache
        is not answering: a generation read from the process-local fallback is not one every
        worker shares. On Redis it is one round trip (a Lua script)."""
        if breakers.cache.current_state != pybreaker.STATE_CLOSED:
            return None  # open, or half-open: trial calls are not ones to trust a token on
        primary = self._on_redis()
        if primary is not None:
            answer = self._on_shared(
                self._redis_check_and_count, primary, generation_key, expected, window, reads
            )
            if answer is FAILED_OVER:
                return None
            generation, count, *values = answer
            held = int(generation) == expected
            decode = primary.client.decode
            return (
                int(generation),
                None if count is None else int(count),
                [None if v is None else decode(v) for v in values] if held else None,
            )
        generation = int(self.get(generation_key, 0) or 0)
        if breakers.cache.current_state != pybreaker.STATE_CLOSED:
            return None  # the read just failed over
        if generation != expected:
            return generation, None, None
        count = None if window is None else self.incr_window(*window)
        return generation, count, [self.get(key) for key in reads]

    def _redis_check_and_count(
        self,
        primary: Any,
        generation_key: str,
        expected: int,
        window: tuple[str, int] | None,
        reads: Sequence[str],
    ) -> Any:
        client = primary.client
        keys = [str(client.make_key(generation_key))]
        args: list[Any] = [str(expected), ""]
        if window is not None:
            keys.append(str(client.make_key(window[0])))
            args[1] = window[1]
        keys += [str(client.make_key(key)) for key in reads]
        script = self._script(client, CHECK_AND_COUNT, write=window is not None)
        return script(keys=keys, args=args)

    def get_generational(self, generation_key: str, value_key: Callable[[int], str]) -> Any:
        """The generation counted under `generation_key` (0 when unset) and the value kept
        under `value_key(generation)`, as (generation, value or None). On Redis it is one
        round trip (a Lua script reads both); elsewhere two reads."""
        primary = self._on_redis()
        if primary is not None:
            found = self._on_shared(self._generational, primary, generation_key, value_key)
            if found is not FAILED_OVER:
                return found
            generation = int(self._fallback.get(generation_key, 0) or 0)
            return generation, self._fallback.get(value_key(generation))
        generation = int(self.get(generation_key, 0) or 0)
        return generation, self.get(value_key(generation))

    def _generational(
        self, primary: Any, generation_key: str, value_key: Callable[[int], str]
    ) -> tuple[int, Any]:
        client = primary.client
        marker = "\x00generation\x00"
        prefix, _, suffix = str(client.make_key(value_key(marker))).partition(marker)  # type: ignore[arg-type]
        keys = [str(client.make_key(generation_key))]
        script = self._script(client, GET_GENERATIONAL, write=False)
        generation, value = script(keys=keys, args=[prefix, suffix])
        return (
            int(generation) if generation is not None else 0,
            None if value is None else client.decode(value),
        )

    def has_key(self, key: str, version: Any = None) -> Any:
        return self._run("has_key", key, version)

    def clear(self) -> None:
        self._fallback.clear()
        self._run("clear")
