"""Rate limits: django-ratelimit's windows and keys, counted in the `shared` cache, one place
for every view.

Groups: `files` for /v1/jobs/{jobId}/files… and `default` for every other /v1/ route. Callers
are keyed by token (per token, not per tenant), or by client address when anonymous. Windows
are django-ratelimit's fixed windows of the rate's period, staggered per key (not aligned to
the minute); X-RateLimit-Reset is the real end of the caller's window.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponseBase
from django_ratelimit import core as ratelimit_core

from portal import fastpaths
from portal.errors import DomainError
from portal.fastpaths import ratelimit as fast_ratelimit
from portal.fastpaths import shared_reads
from portal.fastpaths.ratelimit import Window
from portal.fastpaths.shared_reads import SharedReads
from portal.models import ApiToken
from portal.observability import request_context
from portal.resilience.cache import FailoverCache
from portal.tenancy.auth import TenantPrincipal

GROUP_LABELS = {"default": "API", "files": "Files endpoint"}


@dataclass(frozen=True)
class Usage:
    group: str
    limit: int
    count: int
    reset: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def retry_after(self) -> int:
        return max(1, self.reset - int(time.time()))


def client_address(request: HttpRequest) -> str:
    """The caller's address. With TRUSTED_PROXY_COUNT = n, the n-th X-Forwarded-For entry from
    the right is taken (each trusted proxy appends the address it saw); otherwise the
    socket's peer. Entries a client could forge never count."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < hops:
        return remote
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def _principal() -> TenantPrincipal | None:
    context = request_context.current()
    return context.principal if context is not None else None


def caller_key(group: str, request: HttpRequest, principal: object = None) -> str:
    user = principal if principal is not None else _principal()
    if isinstance(user, TenantPrincipal):
        return f"token:{user.token.pk}"
    return f"ip:{client_address(request)}"


def group_rate(group: str, request: HttpRequest, principal: object = None) -> str:
    """The tenant's override when an operator set one, else the configured default."""
    user = principal if principal is not None else _principal()
    if isinstance(user, TenantPrincipal):
        override = getattr(user.tenant, f"rate_limit_{group}", "")
        if override:
            return str(override)
    return str(settings.RATE_LIMITS[group])


def window(request: HttpRequest, group: str, principal: object = None) -> Window | None:
    """The caller's window (the principal given, else the request's), or None when rate
    limiting is off."""
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    rate = group_rate(group, request, principal)
    return fast_ratelimit.window(f"portal:{group}", rate, caller_key(group, request, principal))


def count_with_the_token(batch: SharedReads, request: HttpRequest, group: str) -> None:
    """Asks for this request's count in the round trip that checks its token
    (`portal.fastpaths.shared_reads`): the window the token is counted in. Only with this
    module's own shortcut on, since the stock path counts through `get_usage`, and a request
    is counted once."""
    if fastpaths.enabled("ratelimit"):
        batch.count_in = lambda token: _token_window(request, group, token)


def _token_window(request: HttpRequest, group: str, token: ApiToken) -> tuple[str, int] | None:
    found = window(request, group, TenantPrincipal(token))
    return None if found is None else (found.key, found.expiry)


def consume(request: HttpRequest, group: str) -> Usage | None:
    """Counts one request against the caller's window; returns the usage after it.

    The window and the counter's key are django-ratelimit's (its fixed, per-key staggered
    windows, so counts agree with any other django-ratelimit user of the same cache). With the
    shortcuts on, the count is one atomic increment-with-expiry (`FailoverCache.incr_window`),
    usually taken already in the round trip that checked the token
    (`portal.fastpaths.shared_reads`); off, it is django-ratelimit's own `get_usage`."""
    if not fastpaths.enabled("ratelimit"):
        return _stock_usage(request, group)
    current = window(request, group)
    if current is None:
        return None
    count = shared_reads.take_count(current.key)
    if count is None:
        shared: FailoverCache = caches[settings.RATELIMIT_USE_CACHE]  # type: ignore[assignment]
        count = shared.incr_window(current.key, current.expiry)
    now = int(time.time())
    return Usage(
        group=group,
        limit=current.limit,
        count=count,
        # A window that ends this very second is reported as ending in the next one, so the
        # reset is always in the future.
        reset=now + max(1, current.ends - now),
    )


def _stock_usage(request: HttpRequest, group: str) -> Usage | None:
    value = caller_key(group, request)
    found = ratelimit_core.get_usage(
        request,
        group=f"portal:{group}",
        key=lambda _group, _request: value,
        rate=group_rate(group, request),
        method=ratelimit_core.ALL,
        increment=True,
    )
    if found is None:
        return None
    return Usage(
        group=group,
        limit=int(found["limit"]),
        count=int(found["count"]),
        reset=int(time.time()) + max(1, int(found["time_left"])),
    )


def enforce(request: HttpRequest, group: str) -> Usage | None:
    """Counts the request and raises a 429 problem when the caller is over the limit."""
    usage = consume(request, group)
    context = request_context.current()
    if context is not None:
        context.ratelimit = usage
    if usage is not None and usage.exceeded:
        wait = usage.retry_after
        raise DomainError(
            "RATE_LIMIT_EXCEEDED",
            f"{GROUP_LABELS.get(group, group)} rate limit exceeded. "
            f"Please retry after {wait} seconds",
            headers={"Retry-After": str(wait)},
        )
    return usage


def add_headers(response: HttpResponseBase) -> None:
    context = request_context.current()
    usage = context.ratelimit if context is not None else None
    if usage is None:
        return
    response["X-RateLimit-Limit"] = str(usage.limit)
    response["X-RateLimit-Remaining"] = str(usage.remaining)
    response["X-RateLimit-Reset"] = str(usage.reset)


PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_period_seconds(rate: str) -> int:
    """The window of a `count/unit` rate (settings are checked for that shape), in seconds."""
    return PERIODS[rate.rsplit("/", 1)[1][-1]]


def _by_address(group: str, request: HttpRequest) -> str:
    return client_address(request)


def failed_attempts_exhausted(request: HttpRequest, group: str, rate: str) -> bool:
    """Whether this client address has used up its failed credential attempts in `group` this
    window: while it has, a credential it sends is not even checked (guessing stops paying)."""
    return bool(ratelimit_core.is_ratelimited(request, group=group, key=_by_address, rate=rate))


def count_failed_attempt(request: HttpRequest, group: str, rate: str) -> bool:
    """One more refused credential from this client address in `group`; whether that one
    was past the limit."""
    limited = ratelimit_core.is_ratelimited(
        request, group=group, key=_by_address, rate=rate, increment=True
    )
    return bool(limited)
