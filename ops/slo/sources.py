"""Metrics sources: one interface, answered by the embedded store or by Prometheus.

Both answer the same questions over the same window with the same definitions:
- requests and errors (5xx; a 429 is an answer, not an error) counted exactly,
- quantiles with Prometheus's histogram_quantile interpolation over the same buckets,
- the fraction of requests at or under a bucket bound (exact),
filtered by endpoint label, release version and traffic: by default customers' only (the
rollout controller's probes and rehearsals are labelled apart, portal.models.Traffic).
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from ops.models.slo import BUCKET_FIELDS, MetricRollup
from portal.observability.metrics import BUCKETS_MS, cumulative, histogram_quantile

CUSTOMERS: tuple[str, ...] = ("customer",)
PROBES: tuple[str, ...] = ("probe",)
# Everything but a rehearsal's injected faults: what the guard's hard signals read.
SERVED: tuple[str, ...] = ("customer", "probe")


@dataclass(frozen=True)
class Window:
    length: timedelta
    endpoint: str | None = None
    version: str | None = None
    at: datetime | None = None
    # Whose requests count (metrics' `traffic` label); None: every request, rehearsals too.
    traffic: tuple[str, ...] | None = CUSTOMERS

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
    sum_ms: float = 0.0  # total latency, so means are exact (buckets only bound them)

    def under(self, threshold_ms: float) -> int:
        index = BUCKETS_MS.index(threshold_ms)
        return int(sum(self.buckets[: index + 1]))

    @property
    def error_rate(self) -> float | None:
        """5xx share of the requests; None without requests."""
        return self.errors / self.requests if self.requests else None

    def quantile(self, q: float) -> float | None:
        """Prometheus's histogram_quantile over these buckets; None without requests."""
        return histogram_quantile(q, cumulative(self.buckets))

    @property
    def mean_ms(self) -> float | None:
        return self.sum_ms / self.requests if self.requests and self.sum_ms else None


API_PREFIX = "/v*/"


class MetricsSource(Protocol):
    name: str

    def counts(self, window: Window) -> Counts: ...

    def series(self, window: Window, step: timedelta) -> list[Point]: ...


@dataclass(frozen=True)
class Point:
    """The counts of one step of a series: requests in [end - step, end)."""

    end: datetime
    counts: Counts


EMPTY = Counts(requests=0, errors=0, buckets=[0.0] * (len(BUCKETS_MS) + 1))


def step_ends(window: Window, step: timedelta) -> list[datetime]:
    """The ends of a series' steps: whole minutes, the last one just after the window's end,
    so each step covers whole minutes of the embedded store."""
    if step < timedelta(minutes=1) or step.total_seconds() % 60:
        raise ValueError("A series step is a whole number of minutes")
    end = window.end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    steps = max(1, math.ceil(window.length / step))
    return [end - step * (steps - 1 - i) for i in range(steps)]


def add_counts(a: Counts, b: Counts) -> Counts:
    return Counts(
        requests=a.requests + b.requests,
        errors=a.errors + b.errors,
        buckets=[x + y for x, y in zip(a.buckets, b.buckets, strict=True)],
        sum_ms=a.sum_ms + b.sum_ms,
    )


# Questions every source answers the same way from its counts.


def sample_count(source: MetricsSource, window: Window) -> int:
    return source.counts(window).requests


def request_rate(source: MetricsSource, window: Window) -> float:
    """Requests per second over the window."""
    return source.counts(window).requests / window.length.total_seconds()


def error_rate(source: MetricsSource, window: Window) -> float | None:
    return source.counts(window).error_rate


def quantile(source: MetricsSource, q: float, window: Window) -> float | None:
    return source.counts(window).quantile(q)


def fraction_under(source: MetricsSource, threshold_ms: float, window: Window) -> float | None:
    counts = source.counts(window)
    return counts.under(threshold_ms) / counts.requests if counts.requests else None


class EmbeddedSource:
    """The product's own per-minute rollups (ops.MetricRollup)."""

    name = "embedded"
    SUMS: ClassVar[dict[str, Any]] = {
        "requests": Sum("count"),
        "errors": Sum("count", filter=Q(status_class="5xx")),
        "sum_ms": Sum("sum_ms"),
        **{name: Sum(name) for name in BUCKET_FIELDS},
    }

    @staticmethod
    def _rows(window: Window, start: datetime, end: datetime) -> QuerySet[MetricRollup]:
        rows = MetricRollup.objects.filter(minute__gte=start, minute__lt=end)
        if window.endpoint:
            rows = rows.filter(endpoint=window.endpoint)
        else:
            # "All" means every API route: not /metrics scrapes, not unmatched paths.
            rows = rows.filter(endpoint__startswith=API_PREFIX)
        if window.version:
            rows = rows.filter(version=window.version)
        if window.traffic:
            rows = rows.filter(traffic__in=window.traffic)
        return rows

    @staticmethod
    def _counts(totals: dict[str, Any]) -> Counts:
        return Counts(
            requests=int(totals["requests"] or 0),
            errors=int(totals["errors"] or 0),
            buckets=[float(totals[name] or 0) for name in BUCKET_FIELDS],
            sum_ms=float(totals["sum_ms"] or 0),
        )

    def counts(self, window: Window) -> Counts:
        # Whole minutes: the rows of every minute that overlaps the window.
        start = window.start.replace(second=0, microsecond=0)
        return self._counts(self._rows(window, start, window.end).aggregate(**self.SUMS))

    def series(self, window: Window, step: timedelta) -> list[Point]:
        ends = step_ends(window, step)
        first = ends[0] - step
        per_minute = (
            self._rows(window, first, ends[-1])
            .values("minute")
            .annotate(**self.SUMS)
            .order_by("minute")
        )
        steps = [EMPTY] * len(ends)
        for row in per_minute:
            index = int((row["minute"] - first) / step)
            steps[index] = add_counts(steps[index], self._counts(row))
        return [Point(end=end, counts=counts) for end, counts in zip(ends, steps, strict=True)]


class PrometheusError(Exception):
    pass


class PrometheusSource:
    """Prometheus's HTTP API. Counts over a window are the counter's value at the end minus
    its value a window earlier (rate() and increase() extrapolate, which would make counts
    approximate); quantiles use histogram_quantile over rate(), as dashboards do."""

    name = "prometheus"

    def __init__(self, url: str | None = None, timeout: float = 5) -> None:
        self.url = (url or settings.PROMETHEUS_URL or "").rstrip("/")
        if not self.url:
            raise PrometheusError("PROMETHEUS_URL is not set")
        self.timeout = timeout

    def query(
        self, promql: str, at: datetime, endpoint: str = "query", **extra: str
    ) -> list[dict[str, object]]:
        args = extra or {"time": f"{at.timestamp():.3f}"}
        params = urllib.parse.urlencode({"query": promql, **args})
        url = f"{self.url}/api/v1/{endpoint}?{params}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310
                payload = json.load(response)
        except (OSError, ValueError) as exc:
            raise PrometheusError(f"Prometheus query failed: {exc}") from exc
        if payload.get("status") != "success":
            raise PrometheusError(f"Prometheus query failed: {payload.get('error')}")
        result: list[dict[str, object]] = payload["data"]["result"]
        return result

    def query_range(
        self, promql: str, start: datetime, end: datetime, step: timedelta
    ) -> list[dict[str, object]]:
        return self.query(
            promql,
            end,
            endpoint="query_range",
            start=f"{start.timestamp():.3f}",
            end=f"{end.timestamp():.3f}",
            step=f"{int(step.total_seconds())}s",
        )

    @staticmethod
    def selector(window: Window, extra: str = "") -> str:
        labels = (
            [f'endpoint="{window.endpoint}"'] if window.endpoint else ['endpoint=~"/v\\\\*/.*"']
        )
        if window.version:
            labels.append(f'version="{window.version}"')
        if window.traffic:
            labels.append(f'traffic=~"{"|".join(window.traffic)}"')
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
        sum_ms = self._scalar(self._delta("http_request_duration_ms_sum", window), at)
        by_le: dict[float, float] = {}
        for item in self.query(self._delta("http_request_duration_ms_bucket", window, by="le"), at):
            metric = item["metric"]
            by_le[float(metric["le"])] = float(item["value"][1])  # type: ignore[index]
        bounds = [*BUCKETS_MS, math.inf]
        running = [by_le.get(float(b), 0.0) for b in bounds]
        per_bucket = [running[0]] + [running[i] - running[i - 1] for i in range(1, len(running))]
        return Counts(
            requests=round(requests), errors=round(errors), buckets=per_bucket, sum_ms=sum_ms
        )

    def series(self, window: Window, step: timedelta) -> list[Point]:
        """The same deltas as counts(), one step long, evaluated at each step's end."""
        ends = step_ends(window, step)
        steps = Window(
            length=step, endpoint=window.endpoint, version=window.version, traffic=window.traffic
        )

        def matrix(promql: str) -> list[dict[str, object]]:
            return self.query_range(promql, ends[0], ends[-1], step)

        def by_time(items: list[dict[str, object]]) -> dict[int, float]:
            values: dict[int, float] = {}
            for item in items:
                for stamp, value in item["values"]:  # type: ignore[attr-defined]
                    if not math.isnan(float(value)):
                        key = round(float(stamp))
                        values[key] = values.get(key, 0.0) + float(value)
            return values

        requests = by_time(matrix(self._delta("http_requests_total", steps)))
        errors = by_time(matrix(self._delta("http_requests_errors_total", steps)))
        sums = by_time(matrix(self._delta("http_request_duration_ms_sum", steps)))
        bounds = [*BUCKETS_MS, math.inf]
        running: dict[int, list[float]] = {}
        for item in matrix(self._delta("http_request_duration_ms_bucket", steps, by="le")):
            index = bounds.index(float(item["metric"]["le"]))  # type: ignore[index]
            for stamp, value in item["values"]:  # type: ignore[attr-defined]
                row = running.setdefault(round(float(stamp)), [0.0] * len(bounds))
                row[index] = float(value)
        points = []
        for end in ends:
            key = round(end.timestamp())
            cumulative_counts = running.get(key, [0.0] * len(bounds))
            per_bucket = [cumulative_counts[0]] + [
                cumulative_counts[i] - cumulative_counts[i - 1] for i in range(1, len(bounds))
            ]
            counts = Counts(
                requests=round(requests.get(key, 0.0)),
                errors=round(errors.get(key, 0.0)),
                buckets=per_bucket,
                sum_ms=sums.get(key, 0.0),
            )
            points.append(Point(end=end, counts=counts))
        return points

    def seed_quantile(self, q: float, window: Window) -> float | None:
        """The usual dashboard query: histogram_quantile over rate() of the buckets."""
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
