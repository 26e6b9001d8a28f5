"""Rate limits: counted by django-ratelimit in the `shared` cache, one place for every view.

Groups: `files` for /v1/jobs/{jobId}/files… and `default` for every other /v1/ route. Callers
are keyed by token (per token, not per tenant), or by client address when anonymous. Windows
are django-ratelimit's fixed windows of the rate's period, staggered per key (not aligned to
the minute); X-RateLimit-Reset is the real end of the caller's window.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django_ratelimit.core import get_usage

from portal import request_context
from portal.auth import TenantPrincipal
from portal.errors import DomainError

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


def caller_key(group: str, request: HttpRequest) -> str:
    user = _principal()
    if isinstance(user, TenantPrincipal):
        return f"token:{user.token.pk}"
    return f"ip:{client_address(request)}"


def group_rate(group: str, request: HttpRequest) -> str:
    """The tenant's override when an operator set one, else the configured default."""
    user = _principal()
    if isinstance(user, TenantPrincipal):
        override = getattr(user.tenant, f"rate_limit_{group}", "")
        if override:
            return str(override)
    return str(settings.RATE_LIMITS[group])


def consume(request: HttpRequest, group: str) -> Usage | None:
    """Counts one request against the caller's window; returns the usage after it."""
    usage = get_usage(
        request, group=f"portal:{group}", key=caller_key, rate=group_rate_for(group), increment=True
    )
    if usage is None:
        return None
    return Usage(
        group=group,
        limit=int(usage["limit"]),
        count=int(usage["count"]),
        # A window that ends this very second is reported as ending in the next one, so the
        # reset is always in the future.
        reset=int(time.time()) + max(1, int(usage["time_left"])),
    )


def group_rate_for(group: str) -> Any:
    return lambda _group, request: group_rate(group, request)


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


def add_headers(request: HttpRequest, response: HttpResponseBase) -> None:
    context = request_context.current()
    usage = context.ratelimit if context is not None else None
    if usage is None:
        return
    response["X-RateLimit-Limit"] = str(usage.limit)
    response["X-RateLimit-Remaining"] = str(usage.remaining)
    response["X-RateLimit-Reset"] = str(usage.reset)
