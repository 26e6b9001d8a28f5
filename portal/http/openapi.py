"""OpenAPI generation: bearer auth and problem responses documented on every operation."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db.models import UUIDField
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from portal.http.problems import PROBLEMS
from portal.http.serializers import VISIBLE_PATTERN, InputSerializer


class ProblemFieldErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    field = serializers.CharField()
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """RFC 9457 problem details, as returned with `application/problem+json`."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()
    traceId = serializers.CharField()  # noqa: N815 - the contract's field name
    # Shadows Serializer.errors on purpose: this serializer only describes the schema.
    errors = ProblemFieldErrorSerializer(many=True, required=False)  # type: ignore[assignment]


PROBLEM_MEDIA = ["application/problem+json"]
# 414 and 431 are answered by gunicorn itself (portal.http.server_errors), in the same shape.
COMMON_ERRORS = (
    "400",
    "403",
    "404",
    "405",
    "406",
    "413",
    "414",
    "415",
    "429",
    "431",
    "500",
    "503",
)
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
EXAMPLE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

# What each error status means on this API, and a problem document it answers with (the
# codes, titles and types are those of portal.http.problems; the details are real ones).
ERROR_DOCS: dict[str, tuple[str, list[tuple[str, str, str, list[dict[str, str]] | None]]]] = {
    "400": (
        "The request is invalid: a field, a query parameter or the body. `errors` lists each "
        "field with its message; nothing was changed.",
        [
            (
                "validation",
                "VALIDATION_ERROR",
                "name: This field may not be blank.",
                [{"field": "name", "message": "This field may not be blank."}],
            ),
            (
                "unknown_parameter",
                "VALIDATION_ERROR",
                "limt: Unknown query parameter; this route takes: cursor, limit, offset, "
                "ordering, q.",
                [
                    {
                        "field": "limt",
                        "message": "Unknown query parameter; this route takes: cursor, "
                        "limit, offset, ordering, q.",
                    }
                ],
            ),
            (
                "malformed",
                "MALFORMED_REQUEST",
                "JSON parse error - Expecting value: line 1 column 1 (char 0)",
                None,
            ),
        ],
    ),
    "401": (
        "No bearer token, or one that is unknown, revoked or expired. Send "
        "`Authorization: Bearer pt_…`.",
        [
            ("missing", "UNAUTHENTICATED", "Authentication credentials were not provided", None),
            (
                "invalid",
                "INVALID_TOKEN",
                "The bearer token is invalid, revoked or expired",
                None,
            ),
        ],
    ),
    "403": (
        "The token is valid but may not do this: its tenant is suspended, or a signed link "
        "is invalid or has expired.",
        [
            ("suspended", "PERMISSION_DENIED", "This tenant is suspended", None),
            (
                "expired_link",
                "SIGNED_URL_EXPIRED",
                "The link has expired; list the job's files for a fresh one",
                None,
            ),
        ],
    ),
    "404": (
        "No such resource for this tenant (another tenant's ids are not found either).",
        [("not_found", "NOT_FOUND", "Contact not found", None)],
    ),
    "405": (
        "The route does not take this method; `Allow` lists those it does.",
        [("method", "METHOD_NOT_ALLOWED", 'Method "PUT" not allowed.', None)],
    ),
    "406": (
        "The `Accept` header excludes JSON.",
        [("accept", "NOT_ACCEPTABLE", "Could not satisfy the request Accept header.", None)],
    ),
    "409": (
        "The change conflicts with the resource's state: an illegal job status transition, "
        "or deleting a contact that still has jobs. Nothing was changed.",
        [
            (
                "transition",
                "INVALID_STATUS_TRANSITION",
                "A job cannot move from in_progress to pending; allowed: cancelled, completed",
                None,
            ),
            (
                "in_use",
                "CONFLICT",
                "Contact has 3 job(s); delete them or move them to another contact first",
                None,
            ),
        ],
    ),
    "411": (
        "A body was sent without `Content-Length` (chunked): send its length.",
        [("length", "LENGTH_REQUIRED", "Send the request body with a Content-Length header", None)],
    ),
    "413": (
        "The body is over the limit (1 MiB for JSON; the upload limit for files), or an upload "
        "would pass the tenant's storage quota (`STORAGE_QUOTA_EXCEEDED`, whose body names the "
        "`quota` and carries the tenant's `usage`, as `GET /v1/usage` gives it).",
        [
            ("too_large", "PAYLOAD_TOO_LARGE", "Request body exceeds the 1 MiB limit", None),
            (
                "quota",
                "STORAGE_QUOTA_EXCEEDED",
                "The tenant's storage quota of 10,000 files is used up (10,000 stored); "
                "delete files or ask for a larger quota",
                None,
            ),
        ],
    ),
    "414": (
        "The URL is too long (answered by the HTTP server, in the same shape).",
        [
            (
                "uri",
                "URI_TOO_LONG",
                "The server could not accept this request: uri too long",
                None,
            )
        ],
    ),
    "415": (
        "The body's `Content-Type` is not one this route takes (JSON; multipart for uploads).",
        [
            (
                "media_type",
                "UNSUPPORTED_MEDIA_TYPE",
                "Unsupported media type 'text/plain': this route takes application/json.",
                None,
            )
        ],
    ),
    "429": (
        "Over the token's rate limit. `Retry-After` says when to try again; the "
        "`X-RateLimit-*` headers show the budget on every response.",
        [
            (
                "rate",
                "RATE_LIMIT_EXCEEDED",
                "API rate limit exceeded. Please retry after 12 seconds",
                None,
            )
        ],
    ),
    "431": (
        "The request's headers are too large (answered by the HTTP server, in the same shape).",
        [
            (
                "headers",
                "HEADERS_TOO_LARGE",
                "The server could not accept this request: request header fields too large",
                None,
            )
        ],
    ),
    "500": (
        "An unexpected error. Quote `traceId` to support; nothing half-done is kept.",
        [("internal", "INTERNAL_ERROR", "An unexpected error occurred", None)],
    ),
    "503": (
        "A dependency (the database or file storage) is unavailable; `Retry-After` says when "
        "to try again. Nothing was changed.",
        [
            (
                "database",
                "SERVICE_UNAVAILABLE",
                "The database is temporarily unavailable; retry after 30 seconds",
                None,
            )
        ],
    ),
    "507": (
        "The server's file storage is at its free-space floor: uploads are refused before the "
        "disk fills, while reads and deletes go on. Not the client's doing; try later.",
        [
            (
                "storage",
                "INSUFFICIENT_STORAGE",
                "The server's file storage is full; uploads are refused until an operator "
                "frees space (reads and deletes still work)",
                None,
            )
        ],
    ),
}
STATUS_TITLES = {"414": "URI Too Long", "431": "Request Header Fields Too Large"}


def problem_example(status: str, code: str, detail: str, errors: Any) -> dict[str, Any]:
    """A problem document as the API writes it (portal.http.problems.problem_body)."""
    known = PROBLEMS.get(code)
    title = known[1] if known else STATUS_TITLES.get(status, "Error")
    slug = known[2] if known else code.lower().replace("_", "-")
    body: dict[str, Any] = {
        "type": f"{settings.PROBLEM_BASE_URL}/errors/{slug}",
        "title": title,
        "status": int(status),
        "code": code,
        "detail": detail,
        "traceId": EXAMPLE_TRACE_ID,
    }
    if errors is not None:
        body["errors"] = errors
    return body


class PortalAutoSchema(AutoSchema):
    def _get_parameters(self) -> list[dict[str, Any]]:
        # Every query parameter given empty is refused (APIPolicyMixin.check_query_params),
        # whoever declared it (a filter, the pagination, the ordering, @extend_schema): say so.
        parameters: list[dict[str, Any]] = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter.get("in") != "query":
                continue
            if schema.get("type") == "string":
                schema.setdefault("minLength", 1)
            elif schema.get("type") == "array":
                schema.setdefault("minItems", 1)
        return parameters

    def _get_filter_parameters(self) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super()._get_filter_parameters()  # type: ignore[no-untyped-call]
        filters = getattr(getattr(self.view, "filterset_class", None), "base_filters", {})
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter.get("in") == "query" and schema.get("type") == "string":
                # What a text filter's form field checks besides: its length, and no NUL
                # (Django's ProhibitNullCharactersValidator), so no schema-valid value is refused.
                name = parameter.get("name")
                field = filters[name].field if name in filters else None
                if isinstance(field, forms.CharField) and not {"enum", "format"} & set(schema):
                    if field.max_length is not None:
                        schema.setdefault("maxLength", field.max_length)
                    schema.setdefault("pattern", "^[^\\u0000]*$")
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        codes = list(COMMON_ERRORS)
        if self.get_auth():
            codes.append("401")
        if self.method in WRITE_METHODS:
            # Conflicts: illegal job transitions, deleting a contact that still has jobs.
            codes += ["409", "411"]
        # Statuses only some operations answer with (an upload's 507).
        codes += getattr(self.view, "problem_statuses", {}).get(self.method, ())
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    ProblemSerializer, code, PROBLEM_MEDIA, direction
                )
            if code in ERROR_DOCS:
                self._document_problem(code, responses[code])
        return responses

    @staticmethod
    def _document_problem(code: str, response: dict[str, Any]) -> None:
        text, examples = ERROR_DOCS[code]
        if not response.get("description"):
            response["description"] = text
        for media in response.get("content", {}).values():
            media.setdefault(
                "examples",
                {
                    name: {
                        "summary": f"{problem} — {detail}"[:120],
                        "value": problem_example(code, problem, detail, errors),
                    }
                    for name, problem, detail, errors in examples
                },
            )

    def _is_list_view(self, serializer: Any = None) -> bool:
        # A list documented as `OpenApiResponse(Serializer(many=True), description=…)` is still
        # a list: its pagination and filter parameters belong in the schema.
        if serializer is None:
            serializer = self.get_response_serializers()
        if isinstance(serializer, dict) and serializer:
            main = {str(code): s for code, s in serializer.items()}
            serializer = main[min(main)]
        if isinstance(serializer, OpenApiResponse):
            serializer = serializer.response
        return bool(super()._is_list_view(serializer))

    def get_description(self) -> str:  # type: ignore[override]
        # Only what an operation's `extend_schema(description=…)` says: a view's docstring is
        # written for the people who maintain it, not for API clients.
        return ""

    def _map_serializer(
        self, serializer: Any, direction: Any, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer(  # type: ignore[no-untyped-call]
            serializer, direction, bypass_extensions
        )
        if direction == "request" and isinstance(serializer, InputSerializer):
            # InputSerializer refuses unknown fields: a client must not send any.
            schema["additionalProperties"] = False
        return schema


class TextFieldSchema(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """Required text must keep a visible character once cleaned
    (portal.http.serializers.clean_text)."""

    target_class = "portal.http.serializers.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer_field(
            self.target, direction, bypass_extensions=True
        )
        if direction == "request" and not self.target.allow_blank and "pattern" not in schema:
            schema["pattern"] = VISIBLE_PATTERN
        return schema


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "portal.tenancy.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`pt_…`) created in the admin or with "
            "`manage.py create_token`.",
        }


class TenantRelatedFieldSchema(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    target_class = "portal.tenancy.scoping.TenantRelatedField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = {"type": "string", "pattern": f"^{self.target.pattern}$"}
        if isinstance(self.target.model._meta.pk, UUIDField):
            # The same type as the referenced object's own `id`, so a generated client can
            # pass one to the other.
            schema["format"] = "uuid"
        return schema
