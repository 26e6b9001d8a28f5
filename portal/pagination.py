"""The list envelope {data, total, limit, offset, has_more} shared by every list endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from portal.list_totals import cached_count
from portal.parsing import ascii_int

if TYPE_CHECKING:
    # Types only: rest_framework.views imports this module through api_settings.
    from rest_framework.views import APIView

# Offsets beyond this are certainly past the end and would overflow some backends' integers.
MAX_OFFSET = 1_000_000_000


class EnvelopePagination(BasePagination):
    default_limit = 20
    max_limit = 100

    def __init__(self) -> None:
        self.limit = self.default_limit
        self.offset = 0
        self.total = 0

    def _parse(self, request: Request) -> tuple[int, int]:
        errors: list[dict[str, str]] = []
        limit, offset = self.default_limit, 0
        raw_limit = request.query_params.get("limit")
        if raw_limit is not None:
            parsed_limit = ascii_int(raw_limit, max_digits=10)
            if parsed_limit is None or not 1 <= parsed_limit <= self.max_limit:
                errors.append(
                    {
                        "field": "limit",
                        "message": f"Must be an integer between 1 and {self.max_limit}.",
                    }
                )
            else:
                limit = parsed_limit
        raw_offset = request.query_params.get("offset")
        if raw_offset is not None:
            parsed_offset = ascii_int(raw_offset, max_digits=10)
            if parsed_offset is None or parsed_offset > MAX_OFFSET:
                errors.append(
                    {
                        "field": "offset",
                        "message": f"Must be an integer between 0 and {MAX_OFFSET}.",
                    }
                )
            else:
                offset = parsed_offset
        if errors:
            raise exceptions.ValidationError({e["field"]: [e["message"]] for e in errors})
        return limit, offset

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any]:
        self.limit, self.offset = self._parse(request)
        tenant = getattr(request.user, "tenant", None)
        if tenant is None:
            self.total = queryset.count()
        else:
            self.total = cached_count(
                queryset,
                tenant_id=tenant.pk,
                path=request.path,
                params=dict(request.query_params.lists()),
            )
        if self.offset >= self.total:
            return []
        return list(queryset[self.offset : self.offset + self.limit])

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "data": data,
                "total": self.total,
                "limit": self.limit,
                "offset": self.offset,
                "has_more": self.offset + len(data) < self.total,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["data", "total", "limit", "offset", "has_more"],
            "properties": {
                "data": schema,
                "total": {"type": "integer", "minimum": 0, "example": 1247},
                "limit": {"type": "integer", "minimum": 1, "maximum": self.max_limit},
                "offset": {"type": "integer", "minimum": 0},
                "has_more": {"type": "boolean"},
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Page size, 1 to {self.max_limit} (default {self.default_limit}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit},
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "description": "Number of items to skip.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
            },
        ]
