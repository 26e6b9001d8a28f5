"""GET /v1/health: liveness and readiness for load balancers, with the database checked."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import APIPolicyMixin, rfc3339
from portal.auth import OptionalBearerTokenAuthentication
from portal.request_context import current_trace_id

logger = logging.getLogger("portal.health")


def utc_now_ms() -> str:
    """Server-generated "now": RFC 3339, UTC, milliseconds (CONTRACT §2)."""
    return rfc3339(datetime.now(UTC))


def database_ok() -> bool:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("Health check: database unreachable", exc_info=True)
        return False
    return True


HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"]),
        "timestamp": serializers.DateTimeField(),
        "version": serializers.CharField(),
        "traceId": serializers.CharField(),
        "circuitBreakers": serializers.DictField(child=serializers.DictField()),
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
        body: dict[str, Any] = {
            "status": "healthy",
            "timestamp": utc_now_ms(),
            "version": settings.APP_VERSION,
            "traceId": current_trace_id(),
            "circuitBreakers": {},
        }
        if not database_ok():
            body["status"] = "unhealthy"
            body["checks"] = {"database": "unreachable"}
            return Response(body, status=503)
        return Response(body)
