"""Request and trace ids for every request, the per-request log line, and log context."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponseBase

from portal.observability import metrics

if TYPE_CHECKING:
    # Types only: both modules import this one.
    from portal.fastpaths.shared_reads import SharedReads
    from portal.resilience.ratelimit import Usage
    from portal.tenancy.auth import TenantPrincipal

logger = logging.getLogger("portal.request")

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# W3C traceparent: version-traceid-parentid-flags; an all-zero trace id is invalid.
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-(?P<trace>[0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


@dataclass
class RequestContext:
    """What one request carries through the layers, typed, instead of ad-hoc attributes on the
    request object."""

    request_id: str
    trace_id: str
    started: float = field(default_factory=time.perf_counter)
    tenant: str = "-"
    token_prefix: str = "-"  # noqa: S105 - a public prefix, not a secret
    # Whose request this is in the metrics: customer (anonymous too), probe or rehearsal.
    traffic: str = "customer"
    # Who authentication found (rate limits key on it), and this request's rate-limit usage.
    principal: TenantPrincipal | None = None
    ratelimit: Usage | None = None
    # What the request's consumers read from the shared cache in the token check's round
    # trip (portal.fastpaths.shared_reads).
    shared_reads: SharedReads | None = None
    # Set when the request failed because the database is down; its breaker counts it.
    database_failed: bool = False
    # Whether this request's tenant reads may use the read replica, and whether one did.
    replica_reads: bool = False
    replica_used: bool = False


_current: ContextVar[RequestContext | None] = ContextVar("portal_request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def _random_hex() -> str:
    """128 random bits as 32 hex digits: ids to correlate logs, not secrets, so from Python's
    PRNG (reseeded in every forked worker) rather than a system call per id like uuid4."""
    return f"{random.getrandbits(128):032x}"


def new_request_id() -> str:
    """A random UUID (version 4, as uuid4 writes it)."""
    bits = (random.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (4 << 76) | (2 << 62)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def current_trace_id() -> str:
    ctx = _current.get()
    return ctx.trace_id if ctx else _random_hex()


def _sane(value: str | None) -> str | None:
    if value and _SANE_ID.fullmatch(value):
        return value
    return None


def request_id_from(request: HttpRequest) -> str:
    return _sane(request.META.get("HTTP_X_REQUEST_ID")) or new_request_id()


def trace_id_from(request: HttpRequest) -> str:
    explicit = _sane(request.META.get("HTTP_X_TRACE_ID"))
    if explicit:
        return explicit
    parent = request.META.get("HTTP_TRACEPARENT")
    match = _TRACEPARENT.fullmatch(parent.strip().lower()) if parent else None
    if match and match["trace"] != "0" * 32:
        return match["trace"]
    return _random_hex()


def set_principal(*, tenant: str, token_prefix: str, traffic: str = "customer") -> None:
    """Called by authentication so the request's log line names who made it, and its metrics
    whose traffic it is."""
    ctx = _current.get()
    if ctx is not None:
        ctx.tenant = tenant
        ctx.token_prefix = token_prefix
        if ctx.traffic != "rehearsal":  # marked by the fault middleware: stays the rehearsal's
            ctx.traffic = traffic


def mark_rehearsal() -> None:
    """This request is `rollout rehearse`'s (portal.resilience.faults, only where faults are
    injected)."""
    ctx = _current.get()
    if ctx is not None:
        ctx.traffic = "rehearsal"


class RequestContextMiddleware:
    """Outermost middleware: assigns ids, echoes them on the response, logs one line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        ctx = RequestContext(request_id=request_id_from(request), trace_id=trace_id_from(request))
        token = _current.set(ctx)
        try:
            response = self.get_response(request)
            response["X-Request-Id"] = ctx.request_id
            response["X-Trace-Id"] = ctx.trace_id
            duration_ms = (time.perf_counter() - ctx.started) * 1000
            endpoint = metrics.request_endpoint(request)
            metrics.observe(
                method=request.method or "GET",
                endpoint=endpoint,
                status=response.status_code,
                duration_ms=duration_ms,
                traffic=ctx.traffic,
            )
            level = logging.ERROR if response.status_code >= 500 else logging.INFO
            logger.log(
                level,
                "%s %s %s %.1fms",
                request.method,
                request.path,
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "endpoint": endpoint,
                    "status": response.status_code,
                    "duration_ms": round(duration_ms, 2),
                },
            )
            return response
        finally:
            _current.reset(token)


# The longest message one log record may carry: what a client sends (a path, a Host header)
# can end up in a message, and no request may make the logs grow by more than a line or two.
LOG_MESSAGE_MAX = 1000


class BoundedLogFilter(logging.Filter):
    """Keeps what one request can write to the logs bounded. Django's security loggers report
    a client's own bad input (a disallowed Host, a suspicious operation) at ERROR with a full
    traceback, for any anonymous request: here they are one warning line without it. Any
    longer message is cut at LOG_MESSAGE_MAX characters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security"):
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        message = record.getMessage()
        if len(message) > LOG_MESSAGE_MAX:
            record.msg = f"{message[:LOG_MESSAGE_MAX]}… ({len(message)} characters, cut)"
            record.args = ()
        return True


class RequestContextLogFilter(logging.Filter):
    """Adds request id, trace id, tenant and token prefix to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _current.get()
        record.request_id = ctx.request_id if ctx else "-"
        record.trace_id = ctx.trace_id if ctx else "-"
        record.tenant = ctx.tenant if ctx else "-"
        record.token_prefix = ctx.token_prefix if ctx else "-"
        return True
