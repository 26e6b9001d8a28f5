"""Serializer fields and base serializers: strict text input, one timestamp format, unknown
input fields refused."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import models
from rest_framework import exceptions, serializers

from portal.fastpaths import cycles
from portal.fastpaths.drf import PlannedRepresentation
from portal.formats import rfc3339


class DateTimeField(serializers.DateTimeField):
    def to_representation(self, value: Any) -> str | None:  # type: ignore[override]
        if not value:
            return None
        if isinstance(value, str):
            return value
        return rfc3339(value)


class StrictStringMixin:
    """Refuses numbers and booleans instead of silently turning them into text."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


# Text input is cleaned the same way everywhere, and the schema says exactly how: characters in
# INVISIBLE (controls, bidi overrides and isolates, zero-width and other format characters,
# line and paragraph separators) are removed, then WHITESPACE (ECMAScript's \s, spelled out so
# Python and JavaScript agree) is trimmed from both ends. Required text must keep at least one
# other character: the schema's pattern VISIBLE_PATTERN says so.
INVISIBLE = "\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
WHITESPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_INVISIBLE_RE = re.compile(f"[{INVISIBLE}]+")
_TRIM_RE = re.compile(f"^[{WHITESPACE}]+|[{WHITESPACE}]+$")
VISIBLE_PATTERN = f"[^{WHITESPACE}{INVISIBLE}]"


def clean_text(value: str) -> str:
    return _TRIM_RE.sub("", _INVISIBLE_RE.sub("", value))


class CharField(StrictStringMixin, serializers.CharField):
    """Single-line text: invisible characters removed, whitespace trimmed (see clean_text)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["trim_whitespace"] = False
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        raw = super().to_internal_value(data)
        # The limit applies to what was sent, as the schema's maxLength says, not to what is
        # left once invisible characters are removed.
        if self.max_length is not None and len(raw) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        value = clean_text(raw)
        if value == "" and not self.allow_blank:
            self.fail("blank")
        return value


class EmailField(StrictStringMixin, serializers.EmailField):
    pass


class RegexField(StrictStringMixin, serializers.RegexField):
    pass


class BlankAsNullMixin:
    """Optional text stored blank is shown as null, so `format` in the schema always holds."""

    def to_representation(self, value: Any) -> Any:
        if value in ("", None):
            return None
        return super().to_representation(value)  # type: ignore[misc]


class OptionalEmailOutput(BlankAsNullMixin, serializers.EmailField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)


class OptionalTextOutput(BlankAsNullMixin, serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)


class ModelSerializer(PlannedRepresentation, serializers.ModelSerializer):  # type: ignore[type-arg]
    """Output serializers: every timestamp rendered the same way (RFC 3339, milliseconds, Z).
    Plain serializers render through a read plan (portal.fastpaths.drf), and can render
    `values()` rows (`value_sources`, used by `portal.http.pagination`)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: DateTimeField,
    }


class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Input that refuses fields it does not know, so a typo is an error, not a silent no-op
    (the schema says `additionalProperties: false`)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        initial = getattr(self, "initial_data", None)
        if isinstance(initial, Mapping):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            unknown = sorted(set(initial) - writable)
            if unknown:
                raise exceptions.ValidationError(
                    {name: ["Unknown or read-only field."] for name in unknown}
                )
        return attrs

    def is_valid(self, *, raise_exception: bool = False) -> bool:
        try:
            return bool(super().is_valid(raise_exception=raise_exception))
        finally:
            # Validated (or refused): the bound fields, which point back at the serializer,
            # are not needed again (portal/fastpaths/cycles.py).
            cycles.release_serializer(self)
