"""GET /v1/health: liveness and readiness for load balancers, with the database checked."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pybreaker
from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import APIPolicyMixin, rfc3339
from portal.auth import OptionalBearerTokenAuthentication
from portal.breakers import breakers, not_closed
from portal.request_context import current_trace_id

logger = logging.getLogger("portal.health")


def utc_now_ms() -> str:
    """Server-generated "now": RFC 3339, UTC, milliseconds (CONTRACT §2)."""
    return rfc3339(datetime.now(UTC))


def _probe_database() -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def database_ok() -> bool:
    """Probes the database through its breaker: while the breaker is open nothing is sent
    (a fast answer); once its timeout has passed this is the half-open probe that closes it."""
    try:
        breakers.database.call(_probe_database)
    except pybreaker.CircuitBreakerError:
        return False
    except DatabaseError:
        logger.warning("Health check: database unreachable", exc_info=True)
        return False
    return True


def touch_shared_cache() -> None:
    # Through the failover cache, so a dead Redis trips the cache breaker even when no
    # rate-limited traffic arrives.
    caches["shared"].get("health:probe")


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

    @extend_schema(
        operation_id="health",
        tags=["health"],
        responses={200: HealthSerializer, 503: OpenApiResponse(HealthSerializer)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        database_up = database_ok()
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
            return Response(body, status=503)
        if open_breakers:
            # Storage or the shared cache: the API still serves, with less.
            body["status"] = "degraded"
        return Response(body)
