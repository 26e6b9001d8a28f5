"""GET /metrics: Prometheus text (default, `?format=prometheus`) or a JSON summary."""

from __future__ import annotations

import hmac
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from portal.http.problems import problem_response
from portal.observability import metrics
from portal.resilience.breakers import breakers
from portal.resilience.ratelimit import (
    count_failed_attempt,
    failed_attempts_exhausted,
    rate_period_seconds,
)

BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


def _authorised(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    if not expected:
        return True
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    # Compared as bytes: compare_digest refuses non-ASCII text, and a header may carry any.
    given = value.strip().encode("utf-8", "surrogateescape")
    return scheme.lower() == "bearer" and hmac.compare_digest(given, expected.encode())


def _breaker_lines() -> str:
    # Breaker state lives in the shared cache, so any worker can report it for all.
    lines = [
        "# HELP circuit_breaker_state Circuit breaker state (0 closed, 1 half-open, 2 open)",
        "# TYPE circuit_breaker_state gauge",
    ]
    for breaker in breakers.all():
        state = BREAKER_STATES.get(breaker.current_state, 2)
        lines.append(f'circuit_breaker_state{{name="{breaker.name}"}} {state}')
    return "\n".join(lines) + "\n"


def summarize(registry: CollectorRegistry) -> list[dict[str, Any]]:
    """Per endpoint and method: request and error counts and p50/p95/p99 (ms)."""
    requests: dict[tuple[str, str], float] = defaultdict(float)
    errors: dict[tuple[str, str], float] = defaultdict(float)
    buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for family in registry.collect():
        for sample in family.samples:
            labels = sample.labels
            if "endpoint" not in labels or "method" not in labels:
                continue
            key = (labels["endpoint"], labels["method"])
            if sample.name == "http_requests_total":
                requests[key] += sample.value
            elif sample.name == "http_requests_errors_total":
                errors[key] += sample.value
            elif sample.name == "http_request_duration_ms_bucket":
                buckets[key][float(labels["le"])] += sample.value
    out = []
    for key in sorted(requests):
        pairs = sorted(buckets[key].items())
        quantiles = {
            name: metrics.histogram_quantile(q, pairs)
            for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        }
        out.append(
            {
                "endpoint": key[0],
                "method": key[1],
                "requests": int(requests[key]),
                "errors": int(errors[key]),
                **{name: round(v, 1) if v is not None else None for name, v in quantiles.items()},
            }
        )
    return out


AUTH_GROUP = "metrics-auth"


@require_GET
def metrics_endpoint(request: HttpRequest) -> HttpResponse:
    if settings.METRICS_TOKEN:
        rate = settings.METRICS_AUTH_RATE
        authorised = False
        # Once an address has used up its refused attempts, nothing it sends is checked.
        limited = failed_attempts_exhausted(request, AUTH_GROUP, rate)
        if not limited:
            authorised = _authorised(request)
            limited = not authorised and count_failed_attempt(request, AUTH_GROUP, rate)
        if limited:
            return problem_response(
                "RATE_LIMIT_EXCEEDED",
                "Too many refused metrics tokens from this address; wait and try again",
                headers={"Retry-After": str(rate_period_seconds(rate))},
            )
        if not authorised:
            return problem_response(
                "UNAUTHENTICATED",
                "A valid metrics bearer token is required",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    fmt = request.GET.get("format", "prometheus")
    registry = metrics.scrape_registry()
    if fmt == "prometheus":
        body = generate_latest(registry).decode() + _breaker_lines()
        response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    elif fmt == "json":
        response = JsonResponse(
            {"version": settings.APP_VERSION, "endpoints": summarize(registry)},
            json_dumps_params={"separators": (",", ":")},
        )
    else:
        return problem_response(
            "VALIDATION_ERROR",
            "format must be prometheus or json",
            errors=[{"field": "format", "message": "Must be prometheus or json."}],
        )
    response["Cache-Control"] = "no-store"
    return response
