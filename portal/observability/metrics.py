"""HTTP metrics, recorded once per request from RequestContextMiddleware.

Prometheus series (the conventional names and labels, plus `version` and `traffic`):
- `http_requests_total{method,endpoint,version,traffic}`
- `http_request_duration_ms{method,endpoint,version,traffic}` histogram, buckets at every SLO
  threshold
- `http_requests_errors_total{method,endpoint,version,traffic}` (5xx responses)

`traffic` is `customer` (anonymous requests too), `probe` (the rollout controller's probe
tenants) or `rehearsal` (`rollout rehearse`: its tenants, and its `X-Rehearsal` header where
faults are injected, so a faulted request answered before authentication is labelled too).

`endpoint` is the route template with the API version wildcarded (`/v*/jobs/{jobId}/files`);
paths that match no route share `unmatched`. Labels never carry ids. Under gunicorn,
prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by gunicorn.conf.py) makes
the numbers cover every worker. The same observation feeds the embedded metrics store.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess

# Upper bounds in milliseconds. Every SLO threshold is a bound, so "fraction under threshold"
# is exact; the rest give quantiles a useful resolution. The fine low end (1 to 4 ms) is what
# lets the baseline judge see a 30 % slowdown of a 3 ms endpoint: with 5 ms as the first bound,
# both versions fell into one bucket and the rank test could not tell them apart.
BUCKETS_MS: tuple[float, ...] = (
    1,
    2,
    3,
    4,
    5,
    7.5,
    10,
    15,
    25,
    50,
    75,
    100,
    150,
    200,
    250,
    300,
    400,
    500,
    600,
    800,
    1000,
    1500,
    2500,
    5000,
    10000,
)
LABELS = ("method", "endpoint", "version", "traffic")
TRAFFIC = ("customer", "probe", "rehearsal")

REQUESTS = Counter("http_requests_total", "Total HTTP requests", LABELS)
DURATION = Histogram(
    "http_request_duration_ms", "HTTP request latency in milliseconds", LABELS, buckets=BUCKETS_MS
)
ERRORS = Counter("http_requests_errors_total", "Total HTTP request errors (5xx)", LABELS)

_CONVERTER = re.compile(r"<(?:[a-z_]+:)?(?P<name>[a-z_]+)>")
_VERSION = re.compile(r"^/?v[0-9]+/")
UNMATCHED = "unmatched"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@lru_cache(maxsize=1024)  # routes are the URLconf's, a fixed set
def endpoint_label(route: str | None) -> str:
    """`v1/jobs/<str:job_id>/files` -> `/v*/jobs/{jobId}/files`."""
    if not route:
        return UNMATCHED
    path = _CONVERTER.sub(lambda m: "{" + _camel(m["name"]) + "}", route.lstrip("^").rstrip("$"))
    path = "/" + path.lstrip("/")
    return _VERSION.sub("/v*/", path)


# Any token is a method to gunicorn; every other one shares one label value, so clients cannot
# add series (or rows in the embedded store) by inventing methods.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"


def method_label(method: str | None) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def request_endpoint(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return endpoint_label(match.route if match is not None else None)


Observer = Callable[[str, str, int, float, str, str], None]
_observers: list[Observer] = []


def add_observer(observer: Observer) -> None:
    """Also send every observation to `observer` (the embedded metrics store does)."""
    if observer not in _observers:
        _observers.append(observer)


def remove_observer(observer: Observer) -> None:
    if observer in _observers:
        _observers.remove(observer)


# Each (method, endpoint, version, traffic)'s three series, looked up once: what `labels()`
# returns is the same child every time, and the key set is small and fixed (KNOWN_METHODS and
# OTHER, the URLconf's routes and `unmatched`, this process's version, TRAFFIC).
_series: dict[tuple[str, str, str, str], tuple[Any, Any, Any]] = {}


def series(
    method: str, endpoint: str, version: str, traffic: str = "customer"
) -> tuple[Any, Any, Any]:
    """The request counter, duration histogram and error counter of one label set."""
    key = (method, endpoint, version, traffic)
    found = _series.get(key)
    if found is None:
        found = _series[key] = (
            REQUESTS.labels(*key),
            DURATION.labels(*key),
            # Created at 0 with the first request: in multiprocess mode a series without
            # samples is not exported at all, and error ratios need a zero to divide.
            ERRORS.labels(*key),
        )
    return found


def observe(
    *, method: str, endpoint: str, status: int, duration_ms: float, traffic: str = "customer"
) -> None:
    version = settings.APP_VERSION
    method = method_label(method)
    traffic = traffic if traffic in TRAFFIC else "customer"
    requests, duration, errors = series(method, endpoint, version, traffic)
    requests.inc()
    duration.observe(duration_ms)
    if status >= 500:
        errors.inc()
    for observer in _observers:
        observer(method, endpoint, status, duration_ms, version, traffic)


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile, step for step, over (upper bound, cumulative count)
    pairs ending with +Inf; None where Prometheus would answer NaN (no observations)."""
    if not buckets or buckets[-1][0] != float("inf"):
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    if q <= 0:
        return 0.0
    rank = min(q, 1.0) * total
    previous_bound, previous_count = 0.0, 0.0
    for index, (bound, cumulative) in enumerate(buckets):
        if cumulative >= rank:
            if bound == float("inf"):
                return buckets[-2][0] if len(buckets) > 1 else None
            if index == 0 and bound <= 0:
                return bound
            in_bucket = cumulative - previous_count
            if in_bucket <= 0:
                return bound
            return previous_bound + (bound - previous_bound) * ((rank - previous_count) / in_bucket)
        previous_bound, previous_count = bound, cumulative
    return None


def cumulative(per_bucket: list[float]) -> list[tuple[float, float]]:
    """Per-bucket counts (one per bound, then +Inf) as cumulative (bound, count) pairs."""
    bounds = [*BUCKETS_MS, float("inf")]
    running, out = 0.0, []
    for bound, count in zip(bounds, per_bucket, strict=True):
        running += count
        out.append((float(bound), running))
    return out


def scrape_registry() -> CollectorRegistry:
    """Every worker's metrics in multiprocess mode; this process's otherwise."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    from prometheus_client import REGISTRY

    return REGISTRY
