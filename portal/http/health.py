"""GET /v1/health: liveness and readiness for load balancers, with the database checked."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import pybreaker
from django.conf import settings
from django.core.cache import caches
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
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
from portal.http.views import APIPolicyMixin
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
