"""OpenAPI generation: bearer auth and problem responses documented on every operation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from portal.drf import VISIBLE_PATTERN, InputSerializer


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
# 414 and 431 are answered by gunicorn itself (portal.server_errors), in the same shape.
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


class PortalAutoSchema(AutoSchema):
    def _get_filter_parameters(self) -> list[dict[str, Any]]:
        # Every filter given empty is refused (portal.drf.StrictFilterSet): say so.
        parameters: list[dict[str, Any]] = super()._get_filter_parameters()  # type: ignore[no-untyped-call]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter.get("in") == "query" and schema.get("type") == "string":
                schema.setdefault("minLength", 1)
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        codes = list(COMMON_ERRORS)
        if self.get_auth():
            codes.append("401")
        if self.method in WRITE_METHODS:
            # Conflicts: illegal job transitions, deleting a contact that still has jobs.
            codes += ["409", "411"]
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    ProblemSerializer, code, PROBLEM_MEDIA, direction
                )
        return responses

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
    """Required text must keep a visible character once cleaned (portal.drf.clean_text)."""

    target_class = "portal.drf.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer_field(
            self.target, direction, bypass_extensions=True
        )
        if direction == "request" and not self.target.allow_blank and "pattern" not in schema:
            schema["pattern"] = VISIBLE_PATTERN
        return schema


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "portal.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`pt_…`) created in the admin or with "
            "`manage.py create_token`.",
        }


class TenantRelatedFieldSchema(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    target_class = "portal.tenancy.TenantRelatedField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^{self.target.pattern}$"}
