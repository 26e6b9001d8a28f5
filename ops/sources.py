"""Metrics sources: one interface, answered by the embedded store or by Prometheus.

Both answer the same questions over the same window with the same definitions:
- requests and errors (5xx; a 429 is an answer, not an error) counted exactly,
- quantiles with Prometheus's histogram_quantile interpolation over the same buckets,
- the fraction of requests at or under a bucket bound (exact),
filtered by endpoint label and release version.
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db.models import Q, Sum

from ops.models import BUCKET_FIELDS, MetricRollup
from portal.metrics import BUCKETS_MS, cumulative, histogram_quantile


@dataclass(frozen=True)
class Window:
    length: timedelta
    endpoint: str | None = None
    version: str | None = None
    at: datetime | None = None

    @property
    def end(self) -> datetime:
        return self.at or datetime.now(UTC)

    @property
    def start(self) -> datetime:
        return self.end - self.length


@dataclass(frozen=True)
class Counts:
    requests: int
    errors: int
    buckets: list[float]  # per bucket, each bound then +Inf

    def under(self, threshold_ms: float) -> int:
        index = BUCKETS_MS.index(threshold_ms)
        return int(sum(self.buckets[: index + 1]))


API_PREFIX = "/v*/"


class MetricsSource(Protocol):
    name: str

    def counts(self, window: Window) -> Counts: ...


# Questions every source answers the same way from its counts.


def sample_count(source: MetricsSource, window: Window) -> int:
    return source.counts(window).requests


def request_rate(source: MetricsSource, window: Window) -> float:
    """Requests per second over the window."""
    return source.counts(window).requests / window.length.total_seconds()


def error_rate(source: MetricsSource, window: Window) -> float | None:
    counts = source.counts(window)
    return counts.errors / counts.requests if counts.requests else None


def quantile(source: MetricsSource, q: float, window: Window) -> float | None:
    return histogram_quantile(q, cumulative(source.counts(window).buckets))


def fraction_under(source: MetricsSource, threshold_ms: float, window: Window) -> float | None:
    counts = source.counts(window)
    return counts.under(threshold_ms) / counts.requests if counts.requests else None


class EmbeddedSource:
    """The product's own per-minute rollups (ops.MetricRollup)."""

    name = "embedded"

    def counts(self, window: Window) -> Counts:
        # Whole minutes: the rows of every minute that overlaps the window.
        start = window.start.replace(second=0, microsecond=0)
        rows = MetricRollup.objects.filter(minute__gte=start, minute__lt=window.end)
        if window.endpoint:
            rows = rows.filter(endpoint=window.endpoint)
        else:
            # "All" means every API route: not /metrics scrapes, not unmatched paths.
            rows = rows.filter(endpoint__startswith=API_PREFIX)
        if window.version:
            rows = rows.filter(version=window.version)
        totals = rows.aggregate(
            requests=Sum("count"),
            errors=Sum("count", filter=Q(status_class="5xx")),
            **{name: Sum(name) for name in BUCKET_FIELDS},
        )
        return Counts(
            requests=int(totals["requests"] or 0),
            errors=int(totals["errors"] or 0),
            buckets=[float(totals[name] or 0) for name in BUCKET_FIELDS],
        )


class PrometheusError(Exception):
    pass


class PrometheusSource:
    """Prometheus's HTTP API. Counts over a window are the counter's value at the end minus
    its value a window earlier (rate() and increase() extrapolate, which would make counts
    approximate); quantiles use the seed's histogram_quantile over rate()."""

    name = "prometheus"

    def __init__(self, url: str | None = None, timeout: float = 5) -> None:
        self.url = (url or settings.PROMETHEUS_URL or "").rstrip("/")
        if not self.url:
            raise PrometheusError("PROMETHEUS_URL is not set")
        self.timeout = timeout

    def query(self, promql: str, at: datetime) -> list[dict[str, object]]:
        params = urllib.parse.urlencode({"query": promql, "time": f"{at.timestamp():.3f}"})
        url = f"{self.url}/api/v1/query?{params}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310
                payload = json.load(response)
        except (OSError, ValueError) as exc:
            raise PrometheusError(f"Prometheus query failed: {exc}") from exc
        if payload.get("status") != "success":
            raise PrometheusError(f"Prometheus query failed: {payload.get('error')}")
        result: list[dict[str, object]] = payload["data"]["result"]
        return result

    @staticmethod
    def selector(window: Window, extra: str = "") -> str:
        labels = (
            [f'endpoint="{window.endpoint}"'] if window.endpoint else ['endpoint=~"/v\\\\*/.*"']
        )
        if window.version:
            labels.append(f'version="{window.version}"')
        if extra:
            labels.append(extra)
        return "{" + ",".join(labels) + "}"

    def _delta(self, metric: str, window: Window, extra: str = "", by: str = "") -> str:
        seconds = int(window.length.total_seconds())
        sel = self.selector(window, extra)
        group = f" by ({by})" if by else ""
        now = f"sum{group}({metric}{sel})"
        before = f"sum{group}({metric}{sel} offset {seconds}s)"
        # A series born inside the window has no earlier value: it started at zero.
        return f"{now} - ({before} or {now} * 0)"

    def _scalar(self, promql: str, at: datetime) -> float:
        result = self.query(promql, at)
        values = [float(item["value"][1]) for item in result]  # type: ignore[index]
        return sum(v for v in values if not math.isnan(v))

    def counts(self, window: Window) -> Counts:
        at = window.end
        requests = self._scalar(self._delta("http_requests_total", window), at)
        errors = self._scalar(self._delta("http_requests_errors_total", window), at)
        by_le: dict[float, float] = {}
        for item in self.query(self._delta("http_request_duration_ms_bucket", window, by="le"), at):
            metric = item["metric"]
            by_le[float(metric["le"])] = float(item["value"][1])  # type: ignore[index]
        bounds = [*BUCKETS_MS, math.inf]
        running = [by_le.get(float(b), 0.0) for b in bounds]
        per_bucket = [running[0]] + [running[i] - running[i - 1] for i in range(1, len(running))]
        return Counts(requests=round(requests), errors=round(errors), buckets=per_bucket)

    def seed_quantile(self, q: float, window: Window) -> float | None:
        """The seed log's own query: histogram_quantile over rate() of the buckets."""
        seconds = int(window.length.total_seconds())
        promql = (
            f"histogram_quantile({q}, sum by (le) "
            f"(rate(http_request_duration_ms_bucket{self.selector(window)}[{seconds}s])))"
        )
        result = self.query(promql, window.end)
        if not result:
            return None
        value = float(result[0]["value"][1])  # type: ignore[index]
        return None if math.isnan(value) else value


def default_source() -> MetricsSource:
    """Prometheus when PROMETHEUS_URL is set, the embedded store otherwise."""
    if settings.PROMETHEUS_URL:
        return PrometheusSource()
    return EmbeddedSource()
