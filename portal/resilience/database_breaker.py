"""The database breaker around every /v1/ request (health excepted: it probes by itself)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pybreaker
from django.http import HttpRequest, HttpResponseBase

from portal.http.problems import (
    ANSWERED_DATABASE_ERRORS,
    database_error_response,
    service_unavailable_response,
)
from portal.http.routes import is_tenant_api
from portal.observability import request_context
from portal.resilience.breakers import (
    DatabaseFailedError,
    breakers,
    mark_database_outage,
    retry_after,
)


class DatabaseBreakerMiddleware:
    """Fails fast while the database breaker is open; counts database outages and successes.

    Views report an outage through `mark_database_outage` (the DRF exception handler and
    `process_exception` below do), which keeps the count in one place. Errors that are about
    one request (a cancelled statement, a conflict) are answered but never counted.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not is_tenant_api(request):
            # Health probes the database through the breaker itself; other paths are the
            # admin and docs, which report their own errors.
            return self.get_response(request)

        def run() -> HttpResponseBase:
            response = self.get_response(request)
            context = request_context.current()
            if context is not None and context.database_failed:
                raise DatabaseFailedError(response)
            return response

        database = breakers.database
        try:
            return database.call(run)
        except DatabaseFailedError as failure:
            return failure.response
        except pybreaker.CircuitBreakerError:
            return service_unavailable_response("database", retry_after(database))

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if isinstance(exception, ANSWERED_DATABASE_ERRORS):
            mark_database_outage(exception)
            return database_error_response(exception)
        return None
