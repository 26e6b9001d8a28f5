"""The token check, the rate-limit count and the reads a list needs, in one round trip.

A request with a token asks the shared cache for three things before its view runs: whether
the token this process holds is still current (`portal.tenancy.tokens`), one more count in the
caller's rate-limit window (`portal.resilience.ratelimit`), and the tenant's list-total
generations (`portal.http.totals`). Each would be a round trip to Redis of its own.

Here the view makes one `SharedReads` for its request, and each consumer registers what it
wants as a function of the token (known only once the token check has found it in this
process). The token check plans the batch for the token it holds, sends it with its own
generation check (one Lua script: the count is taken only if the token is still current), and
delivers the answers; each consumer takes its own back. The token cache never learns what the
keys mean, and no consumer learns another's keys.

With FAST_PATHS=off no batch is made: the token check reads its generation alone, and the rate
limiter and the list totals make their own round trips.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from portal.fastpaths import enabled
from portal.observability import request_context


@dataclass
class SharedReads:
    # The one counter the round trip can take: (key, expiry) for the token, or None.
    count_in: Callable[[Any], tuple[str, int] | None] | None = None
    # Keys to read, each consumer's as a function of the token.
    reads: list[Callable[[Any], Sequence[str]]] = field(default_factory=list)
    # What came back: the counter's (key, count), and the values read by key.
    counted: tuple[str, int] | None = None
    values: dict[str, Any] | None = None

    def plan(self, subject: Any) -> tuple[tuple[str, int] | None, list[str]]:
        """The counter and the keys the consumers want for `subject` (the token)."""
        counter = self.count_in(subject) if self.count_in is not None else None
        return counter, [key for read in self.reads for key in read(subject)]

    def deliver(
        self,
        counter: tuple[str, int] | None,
        count: int | None,
        keys: list[str],
        values: list[Any] | None,
    ) -> None:
        self.counted = None if counter is None or count is None else (counter[0], count)
        self.values = None if values is None else dict(zip(keys, values, strict=True))


def begin() -> SharedReads | None:
    """A batch for this request (None with the shortcuts off, or outside a request)."""
    context = request_context.current()
    if context is None or not enabled("shared_reads"):
        return None
    context.shared_reads = SharedReads()
    return context.shared_reads


def current() -> SharedReads | None:
    context = request_context.current()
    return context.shared_reads if context is not None else None


def take_count(key: str) -> int | None:
    """The count taken for `key` in the token's round trip, once (a request counts once)."""
    batch = current()
    if batch is None or batch.counted is None or batch.counted[0] != key:
        return None
    count = batch.counted[1]
    batch.counted = None
    return count


def values() -> dict[str, Any] | None:
    """The values read in the token's round trip, by key (None: nothing was read)."""
    batch = current()
    return batch.values if batch is not None else None
