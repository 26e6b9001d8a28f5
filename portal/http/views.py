"""The base of every API view: renderer, bounded JSON parser, rate limits, query-parameter
checks and the headers every answer carries."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, ClassVar

from django.conf import settings
from rest_framework import exceptions, parsers, renderers
from rest_framework.request import Request
from rest_framework.response import Response

from portal.db import replica
from portal.errors import DomainError, PayloadTooLargeError
from portal.fastpaths import cycles, shared_reads
from portal.fastpaths.drf import ReusedPolicies
from portal.formats import size_text
from portal.http import totals
from portal.http.filters import StrictOrderingFilter
from portal.observability import request_context
from portal.resilience import ratelimit


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


class APIPolicyMixin(ReusedPolicies):
    """Policies every API view shares: bodies must declare their length, unknown query
    parameters are refused, every call is rate limited, and responses are never stored by
    shared caches. (Its policy objects are made once per view class: portal.fastpaths.drf.)"""

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
        group = self.ratelimit_group
        batch = shared_reads.begin()
        if batch is not None:
            # What this request will need from the shared cache, taken in the round trip
            # that checks its token: its rate-limit count and its tenant's list generations.
            if group:
                ratelimit.count_with_the_token(batch, request, group)
            if request.method == "GET":
                batch.reads.append(lambda token: totals.generation_keys(token.tenant_id))
        # Counted whether or not authentication succeeds: a failed token is keyed by address.
        principal: Any = None
        try:
            super().perform_authentication(request)  # type: ignore[misc]
            principal = request.user  # a TenantPrincipal, or None (UNAUTHENTICATED_USER)
        finally:
            context = request_context.current()
            if context is not None:
                context.principal = principal
            if group and (principal is not None or self.ratelimit_anonymous):
                ratelimit.enforce(request, group)
        replica.begin(request.method or "GET")

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
        ratelimit.add_headers(response)
        response["Cache-Control"] = self.cache_control
        response.headers.setdefault("Content-Security-Policy", JSON_CONTENT_SECURITY_POLICY)
        if self.pragma_no_cache:
            response["Pragma"] = "no-cache"
        if isinstance(response, Response):
            # The request's objects freed when it ends, not at the next collection.
            response.add_post_render_callback(cycles.release_after_render(self))
        return response
