"""GET /v1/health: liveness and readiness for load balancers, with the database checked."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pybreaker
from django.conf import settings
from django.core.cache import caches
from django.core.files.storage import default_storage
from django.core.signals import setting_changed
from django.db import DatabaseError, connection
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.formats import utc_now_ms
from portal.http.api import JSON_CONTENT_SECURITY_POLICY, APIPolicyMixin, JSONRenderer
from portal.observability.request_context import current_trace_id
from portal.resilience.breakers import breakers, not_closed, trial
from portal.tenancy.auth import OptionalBearerTokenAuthentication

logger = logging.getLogger("portal.health")


def _probe_database() -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _probe_storage() -> None:
    """A cheap round trip to the file storage: the bucket for S3, a tiny write for a disk."""
    storage: Any = default_storage
    bucket = getattr(storage, "bucket_name", None)
    if bucket:
        storage.connection.meta.client.head_bucket(Bucket=bucket)
        return
    root = Path(storage.location)
    root.mkdir(parents=True, exist_ok=True)
    probe = root / f".health-probe-{os.getpid()}"
    probe.write_bytes(b"ok")
    probe.unlink()


# How long a process reuses its last database probe: load balancers may call health many times
# a second, and one `SELECT 1` a second per process says as much as one per call.
PROBE_TTL_SECONDS = 1.0
_last_probe: list[float] = [0.0]


def database_ok() -> bool:
    """Probes the database through its breaker.

    While the breaker is closed a probe younger than PROBE_TTL_SECONDS is reused (health then
    costs no query). While it is open, health is the half-open trial: it probes directly (at
    most once a second per process) and closes the breaker as soon as the database answers.
    """
    database = breakers.database
    if database.current_state != pybreaker.STATE_CLOSED:
        try:
            return trial(database, _probe_database)
        except DatabaseError:
            logger.warning("Health check: database error", exc_info=True)
            return False
    if time.monotonic() - _last_probe[0] < PROBE_TTL_SECONDS:
        return True
    try:
        database.call(_probe_database)
    except pybreaker.CircuitBreakerError:
        return False
    except DatabaseError:
        logger.warning("Health check: database unreachable", exc_info=True)
        return False
    _last_probe[0] = time.monotonic()
    return True


def storage_trial() -> None:
    """While the storage breaker is not closed, health tries the storage itself, so the breaker
    closes when the storage is back even if no upload or download comes along."""
    with contextlib.suppress(Exception):
        trial(breakers.storage, _probe_storage)


_last_touch: list[float] = [0.0]


def touch_shared_cache() -> None:
    # Through the failover cache, so a dead Redis trips the cache breaker even when no
    # rate-limited traffic arrives; once a second per process is enough for that.
    if time.monotonic() - _last_touch[0] < PROBE_TTL_SECONDS:
        return
    _last_touch[0] = time.monotonic()
    caches["shared"].get("health:probe")


def forget_probes() -> None:
    """Makes the next health call probe afresh (tests, and after settings change)."""
    _last_probe[0] = 0.0
    _last_touch[0] = 0.0


HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"]),
        "timestamp": serializers.DateTimeField(),
        "version": serializers.CharField(),
        "traceId": serializers.CharField(),
        "circuitBreakers": serializers.DictField(
            child=inline_serializer(
                "CircuitBreaker",
                {
                    "state": serializers.ChoiceField(choices=["open", "half-open"]),
                    "failures": serializers.IntegerField(),
                    "openedAt": serializers.DateTimeField(allow_null=True),
                    "retryAt": serializers.DateTimeField(allow_null=True),
                },
            )
        ),
        "checks": serializers.DictField(child=serializers.CharField(), required=False),
    },
)


class HealthView(APIPolicyMixin, APIView):
    """Needs no token; a token that does not resolve is ignored rather than refused, so a
    monitor with a rotated token still sees the service's real health."""

    authentication_classes = [OptionalBearerTokenAuthentication]
    permission_classes = [AllowAny]
    cache_control = "no-store"
    # Anonymous probes (load balancers, kubelets) are never refused; a token is counted.
    ratelimit_anonymous = False

    @extend_schema(
        operation_id="health",
        tags=["health"],
        summary="Service health",
        description="For load balancers, probes and monitors: no token needed (one that does "
        "not resolve is ignored). `healthy`: everything works. `degraded`: the API serves but "
        "a breaker is open (file storage or the shared cache), listed in `circuitBreakers`. "
        "`unhealthy` (503): the database cannot be reached. The database is probed at most "
        "once a second per worker.",
        responses={
            200: OpenApiResponse(
                HealthSerializer,
                description="Healthy or degraded.",
                examples=[
                    OpenApiExample(
                        "Healthy",
                        value={
                            "status": "healthy",
                            "timestamp": "2026-11-27T00:07:29.480Z",
                            "version": "1.0.0",
                            "traceId": "b1f5ea063f8d4745aa1064a1ffc634c8",
                            "circuitBreakers": {},
                        },
                    ),
                    OpenApiExample(
                        "Degraded: file storage failing",
                        value={
                            "status": "degraded",
                            "timestamp": "2026-11-27T00:07:29.480Z",
                            "version": "1.0.0",
                            "traceId": "b1f5ea063f8d4745aa1064a1ffc634c8",
                            "circuitBreakers": {
                                "storage": {
                                    "state": "open",
                                    "failures": 5,
                                    "openedAt": "2026-11-27T00:07:02.113Z",
                                    "retryAt": "2026-11-27T00:07:32.113Z",
                                }
                            },
                        },
                    ),
                ],
            ),
            503: OpenApiResponse(
                HealthSerializer,
                description="Unhealthy: the database cannot be reached.",
                examples=[
                    OpenApiExample(
                        "Database down",
                        value={
                            "status": "unhealthy",
                            "timestamp": "2026-11-27T00:07:29.480Z",
                            "version": "1.0.0",
                            "traceId": "b1f5ea063f8d4745aa1064a1ffc634c8",
                            "circuitBreakers": {
                                "database": {
                                    "state": "open",
                                    "failures": 5,
                                    "openedAt": "2026-11-27T00:07:14.020Z",
                                    "retryAt": "2026-11-27T00:07:44.020Z",
                                }
                            },
                            "checks": {"database": "unreachable"},
                        },
                    )
                ],
            ),
        },
        auth=[],
    )
    def get(self, request: Request) -> Response:
        body, status = health_report()
        return Response(body, status=status)

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """DRF's view with the probe's own answer in front of it.

        A bare GET (no token, no query string, no Accept or one JSON satisfies) is what load
        balancers and kubelets send, many times a second. For that request DRF's request
        wrapping, authentication, permission, query and negotiation steps decide nothing, so
        it is answered here with the same status, headers and body (`tests/portal/
        test_health_probe.py` holds both paths to that). Anything else goes through DRF.
        """
        drf_view = super().as_view(**initkwargs)
        # The Allow header DRF sends: the methods of a view set up for a request (setup()
        # is what adds HEAD for a view with GET).
        example = cls(**initkwargs)
        example.setup(None)  # type: ignore[arg-type]
        allow = ", ".join(example.allowed_methods)
        renderer = JSONRenderer()
        content_type = f"{renderer.media_type}; charset={renderer.charset}"

        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if kwargs or not is_bare_probe(request):
                return drf_view(request, *args, **kwargs)
            # BareProbeMiddleware hands over a report it made and did not answer with (a 503):
            # probing again would double the wait on a database that does not answer.
            body, status = request.__dict__.pop(REPORT_MADE, None) or health_report()
            response = HttpResponse(renderer.render(body), status=status, content_type=content_type)
            response["Allow"] = allow
            response["Cache-Control"] = cls.cache_control
            response["Content-Security-Policy"] = JSON_CONTENT_SECURITY_POLICY
            return response

        # DRF's attributes (cls, initkwargs, csrf_exempt) for the URLconf and the schema.
        functools.update_wrapper(view, drf_view)
        return view


# What a bare probe may send: nothing DRF would act on differently from no header at all.
PROBE_ACCEPTS = frozenset({"*/*", "application/json"})


def is_bare_probe(request: HttpRequest) -> bool:
    meta = request.META
    return (
        request.method == "GET"
        and not meta.get("HTTP_AUTHORIZATION")
        and not meta.get("QUERY_STRING")
        and not meta.get("HTTP_TRANSFER_ENCODING")
        and meta.get("HTTP_ACCEPT", "*/*") in PROBE_ACCEPTS
    )


def health_report() -> tuple[dict[str, Any], int]:
    """The health body and its status: 200 healthy or degraded, 503 unhealthy."""
    database_up = database_ok()
    storage_trial()
    touch_shared_cache()
    open_breakers = not_closed()
    body: dict[str, Any] = {
        "status": "healthy",
        "timestamp": utc_now_ms(),
        "version": settings.APP_VERSION,
        "traceId": current_trace_id(),
        "circuitBreakers": {name: view.as_json() for name, view in open_breakers.items()},
    }
    if not database_up or "database" in open_breakers:
        body["status"] = "unhealthy"
        body["checks"] = {"database": "unreachable"}
        return body, 503
    if open_breakers:
        # Storage or the shared cache: the API still serves, with less.
        body["status"] = "degraded"
    return body, 200


# Where BareProbeMiddleware leaves a report it made but did not answer with, for the view.
REPORT_MADE = "_portal_health_report"


class BareProbeMiddleware:
    """Answers a bare probe of health (`is_bare_probe`: a load balancer or a kubelet, many
    times a second) without the middleware below it, once that middleware's part of the
    answer is known.

    Below this middleware, each step's effect on a healthy bare probe depends only on the
    settings and a few request values: the path, the Host and how the request arrived (the
    allowed hosts check, the HTTPS redirect and HSTS, SECURE_PROXY_SSL_HEADER's header), the
    User-Agent (DISALLOWED_USER_AGENTS) and the Accept header. A request with an Origin (CORS)
    or a Cookie never takes this path. The first probe with given values goes through the
    whole stack, and the headers it comes back with are kept. The next ones get the health
    view's body with the kept headers: the same status, headers and body as the stack gives
    (`tests/portal/test_health_probe.py` compares them). Kept headers are forgotten when a
    setting changes. Only a 200 is answered this way: an unhealthy report, and anything
    unusual, goes through the stack. In-process, a bare probe costs about 40 % less.
    """

    # Distinct request values kept at most: a kubelet and a load balancer or two.
    MAX_KEPT = 32
    KEY_HEADERS = (
        "SCRIPT_NAME",
        "HTTP_HOST",
        "SERVER_NAME",
        "SERVER_PORT",
        "wsgi.url_scheme",
        "HTTP_X_FORWARDED_HOST",
        "HTTP_X_FORWARDED_PORT",
        "HTTP_X_FORWARDED_PROTO",
        "HTTP_USER_AGENT",
        "HTTP_ACCEPT",
    )
    # Set per answer, never kept: the length of this body (the ids are set above this layer).
    PER_ANSWER = frozenset({"content-length"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.renderer = JSONRenderer()
        self.content_type = f"{self.renderer.media_type}; charset={self.renderer.charset}"
        # (path, the KEY_HEADERS' values, the proxy's HTTPS header) -> (the route's resolver
        # match, the kept headers)
        self.kept: dict[tuple[Any, ...], tuple[Any, list[tuple[str, str]]]] = {}
        _shortcuts.add(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        meta = request.META
        if not is_bare_probe(request) or "HTTP_ORIGIN" in meta or meta.get("HTTP_COOKIE"):
            return self.get_response(request)
        proxy_ssl = settings.SECURE_PROXY_SSL_HEADER
        key = (
            request.path_info,
            tuple(meta.get(name) for name in self.KEY_HEADERS),
            meta.get(proxy_ssl[0]) if proxy_ssl else None,
        )
        known = self.kept.get(key)
        if known is not None:
            body, status = health_report()
            if status != 200:
                request.__dict__[REPORT_MADE] = (body, status)
            else:
                match, headers = known
                answer = HttpResponse(self.renderer.render(body), status=status)
                for name, value in headers:
                    answer[name] = value
                answer["Content-Length"] = str(len(answer.content))
                request.resolver_match = match
                return answer
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if (
            known is None
            and response.status_code == 200
            and match is not None
            and getattr(match.func, "view_class", None) is HealthView
            and response.get("Content-Type") == self.content_type
            and not response.cookies
            and not response.streaming
            and len(self.kept) < self.MAX_KEPT
        ):
            headers = [
                (name, value)
                for name, value in response.items()
                if name.lower() not in self.PER_ANSWER
            ]
            self.kept[key] = (match, headers)
        return response


# The live shortcuts, so a settings change (tests, override_settings) forgets what they keep.
_shortcuts: weakref.WeakSet[BareProbeMiddleware] = weakref.WeakSet()


@receiver(setting_changed)
def _settings_changed(**kwargs: Any) -> None:
    for shortcut in _shortcuts:
        shortcut.kept.clear()
