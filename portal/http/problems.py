"""RFC 9457 problem details: the one shape for every error the process produces."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions, status
from rest_framework.response import Response

from portal.errors import DomainError, ServiceUnavailableError
from portal.http.routes import is_page
from portal.observability.request_context import current_trace_id
from portal.resilience.breakers import breakers, mark_database_outage, retry_after
from portal.resilience.failures import is_database_outage, is_statement_cancelled

logger = logging.getLogger("portal.problems")

PROBLEM_CONTENT_TYPE = "application/problem+json"

# code -> (HTTP status, title, type slug)
PROBLEMS: dict[str, tuple[int, str, str]] = {
    "VALIDATION_ERROR": (400, "Validation Failed", "validation"),
    "MALFORMED_REQUEST": (400, "Malformed Request", "malformed-request"),
    "UNAUTHENTICATED": (401, "Unauthorized", "unauthenticated"),
    "INVALID_TOKEN": (401, "Unauthorized", "invalid-token"),
    "PERMISSION_DENIED": (403, "Forbidden", "permission-denied"),
    "SIGNED_URL_EXPIRED": (403, "Forbidden", "signed-url-expired"),
    "NOT_FOUND": (404, "Not Found", "not-found"),
    "METHOD_NOT_ALLOWED": (405, "Method Not Allowed", "method-not-allowed"),
    "NOT_ACCEPTABLE": (406, "Not Acceptable", "not-acceptable"),
    "CONFLICT": (409, "Conflict", "conflict"),
    "INVALID_STATUS_TRANSITION": (409, "Conflict", "invalid-status-transition"),
    "LENGTH_REQUIRED": (411, "Length Required", "length-required"),
    "PAYLOAD_TOO_LARGE": (413, "Payload Too Large", "payload-too-large"),
    # 414 URI_TOO_LONG and 431 HEADERS_TOO_LARGE come from the HTTP server (server_errors).
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported Media Type", "unsupported-media-type"),
    # A tenant's own storage quota: the client's to act on (delete files), never an outage.
    "STORAGE_QUOTA_EXCEEDED": (413, "Storage Quota Exceeded", "storage-quota"),
    "RATE_LIMIT_EXCEEDED": (429, "Too Many Requests", "rate-limit"),
    "INTERNAL_ERROR": (500, "Internal Server Error", "internal"),
    "SERVICE_UNAVAILABLE": (503, "Service Unavailable", "service-unavailable"),
    # The disk under local storage is at its floor (STORAGE_MIN_FREE_BYTES): the server's.
    "INSUFFICIENT_STORAGE": (507, "Insufficient Storage", "insufficient-storage"),
}


def problem_body(
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    extensions: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    status_code, title, slug = PROBLEMS[code]
    # Extension members first, so none can replace a standard one.
    body: dict[str, Any] = dict(extensions or {})
    body |= {
        "type": f"{settings.PROBLEM_BASE_URL}/errors/{slug}",
        "title": title,
        "status": status_code,
        "code": code,
        "detail": detail,
        "traceId": current_trace_id(),
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, object] | None = None,
) -> JsonResponse:
    """A problem response for plain Django views and handlers (outside DRF)."""
    body = problem_body(code, detail, errors=errors, extensions=extensions)
    response = JsonResponse(
        body,
        status=body["status"],
        content_type=PROBLEM_CONTENT_TYPE,
        json_dumps_params={"separators": (",", ":")},
    )
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def service_unavailable_response(dependency: str, retry_after: int) -> JsonResponse:
    return error_response(ServiceUnavailableError(dependency, retry_after))


def error_response(error: DomainError) -> JsonResponse:
    """A domain error as a problem response, for plain Django views and middleware."""
    return problem_response(
        error.code,
        error.detail,
        errors=error.errors,
        headers=error.headers,
        extensions=error.extensions,
    )


COSTLY_RETRY_AFTER_SECONDS = 5


def database_problem(exc: Exception) -> DomainError:
    """The answer to a database error. Only an outage names the database as unavailable (and is
    counted by its breaker); the rest are about this one request."""
    if is_database_outage(exc):
        return ServiceUnavailableError("database", retry_after(breakers.database))
    if is_statement_cancelled(exc):
        # A 503 with Retry-After: the service could not afford this request now; a narrower
        # one (or the same, later) may succeed. It counts as a 5xx like any other; the
        # canary's guard judges its 5xx rate against stable's, so a client's costly requests,
        # which fail on both lanes alike, do not pull a healthy canary.
        return DomainError(
            "SERVICE_UNAVAILABLE",
            "The request needed more time or memory than the database allows one statement; "
            "narrow it (filters, a smaller limit, a cursor) and try again",
            headers={"Retry-After": str(COSTLY_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, IntegrityError):
        return DomainError(
            "CONFLICT",
            "The request conflicts with a concurrent change to the same data (an object it "
            "refers to was changed or removed); fetch the current state and retry",
        )
    if isinstance(exc, DataError):
        return DomainError("MALFORMED_REQUEST", "A value is outside what can be stored")
    # Lock timeouts, deadlocks, serialization failures, a busy SQLite file: contention.
    logger.warning("Database contention: %s", exc)
    return DomainError(
        "SERVICE_UNAVAILABLE",
        "The data is busy with concurrent changes; retry in a second",
        headers={"Retry-After": "1"},
    )


def database_error_response(exc: Exception) -> JsonResponse:
    return error_response(database_problem(exc))


def flatten_errors(data: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turns DRF's nested error structure into a flat list of {field, message}."""
    out: list[dict[str, str]] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            name = prefix if key == "non_field_errors" else f"{prefix}.{key}" if prefix else key
            out.extend(flatten_errors(value, str(name)))
    elif isinstance(data, list):
        if all(not isinstance(item, (Mapping, list)) for item in data):
            out.extend({"field": prefix or "non_field_errors", "message": str(m)} for m in data)
        else:
            for index, item in enumerate(data):
                out.extend(flatten_errors(item, f"{prefix}[{index}]"))
    else:
        out.append({"field": prefix or "non_field_errors", "message": str(data)})
    return out


def _summary(errors: list[dict[str, str]]) -> str:
    if len(errors) == 1:
        error = errors[0]
        if error["field"] == "non_field_errors":
            return error["message"]
        return f"{error['field']}: {error['message']}"
    return f"{len(errors)} fields failed validation"


def _translate(exc: Exception) -> tuple[str, str, list[dict[str, str]] | None]:
    """Maps any exception DRF hands us to (code, detail, errors)."""
    if isinstance(exc, DomainError):
        return exc.code, exc.detail, exc.errors
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        return "VALIDATION_ERROR", _summary(errors), errors
    if isinstance(exc, DjangoValidationError):
        # A model's full_clean() in a service: same shape as serializer errors.
        detail_data = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        errors = flatten_errors(detail_data)
        return "VALIDATION_ERROR", _summary(errors), errors
    if isinstance(exc, exceptions.NotAuthenticated):
        default = exceptions.NotAuthenticated.default_detail
        detail = str(exc.detail) if str(exc.detail) != str(default) else None
        return "UNAUTHENTICATED", detail or "Authentication credentials were not provided", None
    if isinstance(exc, exceptions.AuthenticationFailed):
        return "INVALID_TOKEN", str(exc.detail), None
    if isinstance(exc, exceptions.PermissionDenied):
        return "PERMISSION_DENIED", str(exc.detail), None
    if isinstance(exc, DjangoPermissionDenied):
        return (
            "PERMISSION_DENIED",
            "You do not have permission to perform this action",
            None,
        )
    if isinstance(exc, (exceptions.NotFound, Http404)):
        detail = str(exc.detail) if isinstance(exc, exceptions.NotFound) else "Not found"
        return "NOT_FOUND", detail, None
    if isinstance(exc, exceptions.MethodNotAllowed):
        return "METHOD_NOT_ALLOWED", str(exc.detail), None
    if isinstance(exc, exceptions.NotAcceptable):
        return "NOT_ACCEPTABLE", str(exc.detail), None
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return "UNSUPPORTED_MEDIA_TYPE", str(exc.detail), None
    if isinstance(exc, exceptions.ParseError):
        return "MALFORMED_REQUEST", str(exc.detail), None
    if isinstance(exc, RequestDataTooBig):
        return "PAYLOAD_TOO_LARGE", "Request body exceeds the allowed size", None
    if isinstance(exc, SuspiciousOperation):
        return "MALFORMED_REQUEST", "The request could not be processed", None
    if isinstance(exc, exceptions.Throttled):
        return "RATE_LIMIT_EXCEEDED", str(exc.detail), None
    if (
        isinstance(exc, exceptions.APIException)
        and exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE
    ):
        return "SERVICE_UNAVAILABLE", str(exc.detail), None
    return "INTERNAL_ERROR", "An unexpected error occurred", None


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception becomes a problem document."""
    if isinstance(exc, ANSWERED_DATABASE_ERRORS):
        # An outage is counted by DatabaseBreakerMiddleware; the client gets a fast answer.
        mark_database_outage(exc)
        exc = database_problem(exc)
    elif isinstance(exc, Ratelimited):
        exc = exceptions.Throttled(detail="Rate limit exceeded")
    code, detail, errors = _translate(exc)
    if code == "INTERNAL_ERROR":
        # Logged with the trace so the response can stay free of internals.
        logger.error("Unhandled exception in API view", exc_info=exc)
    extensions = exc.extensions if isinstance(exc, DomainError) else None
    body = problem_body(code, detail, errors=errors, extensions=extensions)
    response = Response(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        if code == "INVALID_TOKEN":
            auth_header = f'{auth_header}, error="invalid_token"'
        response["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        response["Retry-After"] = str(max(1, int(wait)))
    for name, value in getattr(exc, "headers", {}).items():
        response[name] = value
    return response


# The database errors that have an answer of their own; the rest (programming errors) are bugs.
ANSWERED_DATABASE_ERRORS = (OperationalError, InterfaceError, IntegrityError, DataError)


# Django's own error handlers (wired in portal.config.urls), used outside DRF views.


def rate_limited_page(request: HttpRequest, detail: str, *, retry_after: int) -> HttpResponse:
    response = _page_or_problem(request, "RATE_LIMIT_EXCEEDED", detail)
    response["Retry-After"] = str(retry_after)
    return response


def _page_or_problem(request: HttpRequest, code: str, detail: str) -> HttpResponse:
    # Pages people read in a browser get the same problem as an HTML page; the API keeps JSON.
    if not is_page(request):
        return problem_response(code, detail)
    body = problem_body(code, detail)
    try:
        page = render(request, "error.html", {"problem": body}, status=body["status"])
    except Exception:  # an error page must not fail: the JSON problem always works
        logger.exception("Could not render the error page")
        return problem_response(code, detail)
    page["Cache-Control"] = "no-store"
    return page


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return problem_response("PAYLOAD_TOO_LARGE", "Request body exceeds the allowed size")
    if isinstance(exception, DisallowedHost):
        # Whoever meets this runs the server: say which setting to change.
        return problem_response(
            "MALFORMED_REQUEST",
            f"{exception} Add the host to ALLOWED_HOSTS (a comma-separated environment "
            "variable, e.g. ALLOWED_HOSTS=api.example.com,localhost).",
        )
    return _page_or_problem(request, "MALFORMED_REQUEST", "The request could not be processed")


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, Ratelimited):
        # django-ratelimit's decorator raises a PermissionDenied subclass: it is a 429.
        return problem_response("RATE_LIMIT_EXCEEDED", "Rate limit exceeded")
    return _page_or_problem(
        request, "PERMISSION_DENIED", "You do not have permission to perform this action"
    )


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page_or_problem(request, "NOT_FOUND", "The requested resource was not found")


def handler500(request: HttpRequest) -> HttpResponse:
    return _page_or_problem(request, "INTERNAL_ERROR", "An unexpected error occurred")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _page_or_problem(
        request,
        "PERMISSION_DENIED",
        "CSRF verification failed: reload the page and try again (forms expire when you sign "
        "in again or clear cookies)",
    )
