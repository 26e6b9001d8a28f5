"""API plumbing shared by every endpoint: renderer, bounded parsers, cache policy, ordering."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import django_filters
from django.conf import settings
from django.db import models
from django.db.models import F, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, filters, parsers, renderers, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from portal.db import replica
from portal.errors import DomainError, PayloadTooLargeError
from portal.fastpaths import cycles
from portal.formats import rfc3339, size_text
from portal.observability import request_context
from portal.resilience import ratelimit

if TYPE_CHECKING:
    # Types only: rest_framework.views imports this module through api_settings.
    from rest_framework.views import APIView


class JSONRenderer(renderers.JSONRenderer):
    charset = "utf-8"


# JSON is never a document to render or frame.
JSON_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


# No request body of this API nests deeper than 2; 32 leaves room and keeps every later step
# (validation, error flattening, logging) far from Python's recursion limit.
MAX_JSON_DEPTH = 32


def json_depth(value: Any) -> int:
    """How deeply `value` nests, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


class JSONParser(parsers.JSONParser):
    """Reads at most REQUEST_BODY_MAX_BYTES (a bigger body is a 413 problem) and refuses JSON
    nested deeper than MAX_JSON_DEPTH (400)."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if stream is None:
            raise exceptions.ParseError("Request body is empty")
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLargeError(f"Request body exceeds the {size_text(limit)} limit")
        too_deep = f"JSON nests deeper than {MAX_JSON_DEPTH} levels"
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(too_deep) from None
        if json_depth(data) > MAX_JSON_DEPTH:
            raise exceptions.ParseError(too_deep)
        return data


def check_content_length(request: Request, limit: int, limit_text: str | None = None) -> None:
    """Refuses a declared body bigger than `limit` before any of it is read; `limit_text` says
    the limit as the client knows it (the upload route's is the file's)."""
    raw = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        raise exceptions.ParseError("Invalid Content-Length header") from None
    if length > limit:
        raise PayloadTooLargeError(
            f"Request body exceeds {limit_text or f'the {size_text(limit)} limit'}"
        )


class APIPolicyMixin:
    """Policies every API view shares: bodies must declare their length, and responses are
    never stored by shared caches."""

    cache_control: ClassVar[str] = "private, no-store"
    pragma_no_cache: ClassVar[bool] = False
    # The rate-limit group this view counts against (None: not rate limited).
    ratelimit_group: ClassVar[str | None] = "default"
    # Whether callers without a token are counted (by address). Health is not: every pod on a
    # node is probed from the node's one address.
    ratelimit_anonymous: ClassVar[bool] = True
    # Query parameters the view takes besides its filters and `ordering` (lists add the
    # pagination parameters). Any other, or any given twice, is a 400 that lists the known
    # ones: a typo (`?limt=5`) is never silently ignored.
    query_params: ClassVar[frozenset[str]] = frozenset()

    def perform_authentication(self, request: Request) -> None:
        context = request_context.current()
        group = self.ratelimit_group
        if context is not None and group:
            # A token's count is taken in the round trip that checks the token (see
            # portal.resilience.ratelimit.consume): the window it would be counted in.
            context.ratelimit_window = lambda token: ratelimit.token_window(
                request._request, group, token
            )
        # Counted whether or not authentication succeeds: a failed token is keyed by address.
        try:
            super().perform_authentication(request)  # type: ignore[misc]
        finally:
            principal = getattr(request, "_user", None)
            context = request_context.current()
            if context is not None:
                context.principal = principal
            if self.ratelimit_group and (principal is not None or self.ratelimit_anonymous):
                ratelimit.enforce(request._request, self.ratelimit_group)
        replica.begin(request.method or "GET")

    # DRF makes a new parser, renderer, authenticator and permission object per request; they
    # keep no state, so each view class makes its own once (again if its classes change).
    _policy_objects: ClassVar[dict[tuple[type, str], tuple[tuple[Any, ...], list[Any]]]] = {}

    def _policy(self, kind: str, classes: Any) -> list[Any]:
        key, wanted = (type(self), kind), tuple(classes)
        made = APIPolicyMixin._policy_objects.get(key)
        if made is None or made[0] != wanted:
            made = APIPolicyMixin._policy_objects[key] = (wanted, [cls() for cls in wanted])
        return made[1]

    def get_parsers(self) -> list[Any]:
        return self._policy("parsers", self.parser_classes)  # type: ignore[attr-defined]

    def get_renderers(self) -> list[Any]:
        return self._policy("renderers", self.renderer_classes)  # type: ignore[attr-defined]

    def get_authenticators(self) -> list[Any]:
        return self._policy("authenticators", self.authentication_classes)  # type: ignore[attr-defined]

    def get_permissions(self) -> list[Any]:
        return self._policy("permissions", self.permission_classes)  # type: ignore[attr-defined]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # Most clients send no Accept or `*/*`: DRF's negotiation then picks the first
        # renderer with its own media type. Said directly, without parsing the header on every
        # request; any other Accept is negotiated.
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if accept == "*/*" and getattr(self, "format_kwarg", None) is None:
            renderer = self.get_renderers()[0]
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)  # type: ignore[misc]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Django reads a body without Content-Length as empty; say so instead of answering
        # as if the client had sent nothing.
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not request.META.get("CONTENT_LENGTH"):
            raise DomainError(
                "LENGTH_REQUIRED", "Send the request body with a Content-Length header"
            )
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self.check_query_params(request)

    def handle_exception(self, exc: Exception) -> Response:
        if replica.should_retry_on_primary(exc):
            # A read the replica could not answer is answered by the primary (safe methods
            # only reach the replica, so running the handler again changes nothing).
            request = self.request  # type: ignore[attr-defined]
            handler = getattr(self, request.method.lower())
            try:
                return handler(request, *self.args, **self.kwargs)  # type: ignore[attr-defined,no-any-return]
            except Exception as again:
                exc = again
        if isinstance(exc, exceptions.UnsupportedMediaType):
            # Say what the route does take: a JSON body sent to the upload route is the usual
            # mistake, and the answer is multipart/form-data.
            accepted = ", ".join(p.media_type for p in self.get_parsers())
            got = getattr(exc, "media_type", None) or "no Content-Type"
            exc = exceptions.UnsupportedMediaType(
                got, detail=f"Unsupported media type {got!r}: this route takes {accepted}."
            )
        return super().handle_exception(exc)  # type: ignore[misc,no-any-return]

    def known_query_params(self) -> set[str]:
        known = set(self.query_params)
        filterset = getattr(self, "filterset_class", None)
        if filterset is not None:
            known |= set(filterset.base_filters)
        backends = getattr(self, "filter_backends", [])
        if any(issubclass(backend, StrictOrderingFilter) for backend in backends):
            known.add(StrictOrderingFilter.ordering_param)
        return known

    def check_query_params(self, request: Request) -> None:
        known = self.known_query_params()
        listed = ", ".join(sorted(known)) or "none"
        errors: dict[str, list[str]] = {}
        for name in request.query_params:
            if name not in known:
                errors[name] = [f"Unknown query parameter; this route takes: {listed}."]
            elif len(request.query_params.getlist(name)) > 1:
                errors[name] = ["Give this parameter once."]
            elif request.query_params[name] == "":
                # `?ordering=`, `?status=`, `?limit=`: an empty value is not a way to ask for
                # the default, whatever the parameter; the schema allows no empty value either.
                errors[name] = ["May not be empty; leave the parameter out instead."]
        if errors:
            raise exceptions.ValidationError(errors)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        ratelimit.add_headers(request._request, response)
        response["Cache-Control"] = self.cache_control
        response.headers.setdefault("Content-Security-Policy", JSON_CONTENT_SECURITY_POLICY)
        if self.pragma_no_cache:
            response["Pragma"] = "no-cache"
        if isinstance(response, Response):
            # The request's objects freed when it ends, not at the next collection.
            response.add_post_render_callback(cycles.release_after_render(self))
        return response


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


# Fields whose output depends only on the value (never on the request or the parent): a
# serializer made only of these renders through a compiled plan.
PLAIN_FIELDS = (
    serializers.CharField,
    serializers.UUIDField,
    serializers.IntegerField,
    serializers.FloatField,
    serializers.BooleanField,
    serializers.ChoiceField,
    serializers.DateTimeField,
    serializers.ReadOnlyField,
)
# (output name, model attribute, the field's to_representation or None, the serializer's
# method for a SerializerMethodField or None)
ReadPlan = list[tuple[str, str, Callable[[Any], Any] | None, str | None]]


class ModelSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """Output serializers: every timestamp rendered the same way, and reads fast.

    DRF renders each row by walking its bound fields (a deep copy of them per serializer,
    `get_attribute` and `to_representation` per field). When every field is a plain attribute
    rendered by its value alone, or a `SerializerMethodField`, the plan — (name, attribute,
    the field's own to_representation, or the method's name) — is built once per class and
    each row is one dict comprehension: the same output, through the same field methods and
    the same serializer methods, without the walk. Anything else (nested or related
    serializers, dotted sources) keeps DRF's path.

    A serializer of plain fields only also renders plain rows (`QuerySet.values()`): a list
    can skip building a model instance per row (`portal.http.pagination.as_rows`)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: DateTimeField,
    }
    _read_plans: ClassVar[dict[type, ReadPlan | None]] = {}

    def _read_plan(self) -> ReadPlan | None:
        cls = type(self)
        if cls not in ModelSerializer._read_plans:
            plan: ReadPlan = []
            for field in self._readable_fields:
                name = str(field.field_name)
                if isinstance(field, serializers.SerializerMethodField):
                    plan.append((name, "*", None, str(field.method_name)))
                elif isinstance(field, PLAIN_FIELDS) and len(field.source_attrs) == 1:
                    plan.append((name, str(field.source), field.to_representation, None))
                else:
                    ModelSerializer._read_plans[cls] = None  # DRF's own path
                    break
            else:
                ModelSerializer._read_plans[cls] = plan
        return ModelSerializer._read_plans[cls]

    def value_sources(self) -> list[str] | None:
        """The model attributes this serializer reads, when it can render `values()` rows
        (plain fields only: a method is given the model instance)."""
        plan = self._read_plan()
        if plan is None or any(method for _, _, _, method in plan):
            return None
        return [source for _, source, _, _ in plan]

    def to_representation(self, instance: Any) -> Any:
        plan = self._read_plan()
        if plan is None:
            return super().to_representation(instance)
        if isinstance(instance, dict):
            return {
                name: None if (value := instance[source]) is None else render(value)  # type: ignore[misc]
                for name, source, render, _ in plan
            }
        return {
            name: getattr(self, method)(instance)
            if method
            else None
            if (value := getattr(instance, source)) is None
            else render(value)  # type: ignore[misc]
            for name, source, render, method in plan
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


class StrictFilterSet(django_filters.FilterSet):
    """The API's filtersets. A filter given with an empty value (`?status=`, `?q=`) is refused
    rather than ignored, as every empty query parameter is, before any filtering
    (`APIPolicyMixin.check_query_params`).

    django-filter makes a new form class for every filterset, so for every filtered request:
    a class is a reference cycle (portal/fastpaths/cycles.py), and making one costs too. Its
    fields come from the filters' declarations alone unless a filter's choices depend on the
    request (a model choice filter with a callable queryset), so each filterset class makes its form
    class once; one with such a filter makes it per request, as django-filter does."""

    _form_classes: ClassVar[dict[type, Any]] = {}

    def get_form_class(self) -> Any:
        if any(
            isinstance(each, django_filters.filters.QuerySetRequestMixin)
            for each in self.filters.values()
        ):
            return super().get_form_class()
        made = StrictFilterSet._form_classes.get(type(self))
        if made is None:
            made = StrictFilterSet._form_classes[type(self)] = super().get_form_class()
        return made


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, not run when the request names none of the filterset's
    parameters: a filterset with no data filters nothing, and building its form costs more
    than the rest of the query's construction."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and not any(
            name in request.query_params for name in filterset_class.base_filters
        ):
            return queryset
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        try:
            if not filterset.is_valid() and self.raise_exception:
                raise django_filters.utils.translate_validation(filterset.errors)
            return filterset.qs
        finally:
            cycles.release_filterset(filterset)


class StrictOrderingFilter(filters.OrderingFilter):
    """`?ordering=` as a comma-separated list of exact terms (`name` or `-name`, each at most
    once, at most one per allowed field); anything else is a 400. Ties are always broken by id."""

    ordering_param = "ordering"

    @staticmethod
    def terms(allowed: list[str]) -> list[str]:
        return [term for field in allowed for term in (field, f"-{field}")]

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: APIView) -> list[str]:
        allowed: list[str] = list(getattr(view, "ordering_fields", []))
        raw = request.query_params.get(self.ordering_param)
        if raw is None:
            ordering = list(getattr(view, "ordering", ["-created_at"]))
        else:
            ordering = raw.split(",")
            valid = set(self.terms(allowed))
            exact = all(term in valid for term in ordering)
            if not exact or len(set(ordering)) != len(ordering) or len(ordering) > len(allowed):
                raise exceptions.ValidationError(
                    {
                        "ordering": [
                            f"Unknown ordering; allowed: {', '.join(allowed)} (prefix - for "
                            "descending), comma-separated, each at most once."
                        ]
                    }
                )
        if not any(term.lstrip("-") in {"id", "pk"} for term in ordering):
            descending = ordering[0].startswith("-") if ordering else False
            ordering.append("-id" if descending else "id")
        return ordering

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: APIView
    ) -> QuerySet[Any]:
        # Nulls last in both directions, spelled out, so PostgreSQL and SQLite agree (and the
        # cursor's keyset condition can rely on it).
        terms: list[Any] = []
        for term in self.get_ordering(request, queryset, view):
            name = term.lstrip("-")
            field = queryset.model._meta.pk if name in {"id", "pk"} else None
            field = field or queryset.model._meta.get_field(name)
            if getattr(field, "null", False):
                expression = F(name)
                terms.append(
                    expression.desc(nulls_last=True)
                    if term.startswith("-")
                    else expression.asc(nulls_last=True)
                )
            else:
                terms.append(term)
        return queryset.order_by(*terms)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        allowed: list[str] = list(getattr(view, "ordering_fields", []))
        return [
            {
                "name": self.ordering_param,
                "in": "query",
                "required": False,
                "description": "Comma-separated fields, `-` prefix for descending, each at most "
                f"once. Allowed: {', '.join(allowed)}. Ties are broken by id.",
                "style": "form",
                "explode": False,
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "enum": self.terms(allowed)},
                    "uniqueItems": True,
                    "maxItems": len(allowed),
                },
            }
        ]
