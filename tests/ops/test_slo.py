from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from ops.models import BUCKET_FIELDS, MetricRollup, SLObjective
from ops.slo.metrics_store import recorder
from ops.slo.objectives import INSUFFICIENT, MET, VIOLATED, evaluate
from ops.slo.sources import (
    EmbeddedSource,
    Window,
    error_rate,
    fraction_under,
    quantile,
    request_rate,
    sample_count,
)
from portal.observability.metrics import BUCKETS_MS
from tests.factories import SLObjectiveFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def record(
    *,
    endpoint: str = "/v*/contacts",
    version: str = "1.0.0",
    minutes_ago: int = 1,
    at_ms: float = 100,
    count: int = 1,
    status_class: str = "2xx",
    process: str = "p1",
) -> None:
    minute = (NOW - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)
    row, _ = MetricRollup.objects.get_or_create(
        process=process,
        minute=minute,
        version=version,
        endpoint=endpoint,
        method="GET",
        status_class=status_class,
    )
    index = BUCKETS_MS.index(at_ms) if at_ms in BUCKETS_MS else len(BUCKETS_MS)
    setattr(row, BUCKET_FIELDS[index], getattr(row, BUCKET_FIELDS[index]) + count)
    row.count += count
    row.sum_ms += at_ms * count
    row.save()


def window(minutes: int = 5, **kwargs: Any) -> Window:
    return Window(length=timedelta(minutes=minutes), at=NOW, **kwargs)


def objective(**kwargs: object) -> SLObjective:
    values: dict[str, object] = {
        "name": "Contacts p95 < 300 ms (test)",
        "endpoint": "/v*/contacts",
        "kind": "latency",
        "threshold_ms": 300,
        "target": 0.95,
        "window_seconds": 300,
        "min_samples": 20,
        **kwargs,
    }
    return SLObjectiveFactory.create(**values)


def test_counts_rates_and_fractions_come_from_the_window() -> None:
    record(count=90, at_ms=100)
    record(count=10, at_ms=500, process="p2")  # another worker's row
    record(count=5, status_class="5xx", at_ms=50)
    record(count=1000, minutes_ago=30)  # outside a 5-minute window
    source = EmbeddedSource()
    assert sample_count(source, window()) == 105
    assert request_rate(source, window()) == pytest.approx(105 / 300)
    assert error_rate(source, window()) == pytest.approx(5 / 105)
    assert fraction_under(source, 300, window()) == pytest.approx(95 / 105)
    assert sample_count(source, window(60)) == 1105


def test_quantiles_interpolate_like_prometheus() -> None:
    record(count=100, at_ms=100)  # all in (75, 100]
    assert quantile(EmbeddedSource(), 0.5, window()) == pytest.approx(87.5)


def test_filters_by_endpoint_and_version() -> None:
    record(count=10, version="1.0.0")
    record(count=7, version="1.1.0")
    record(count=3, endpoint="/v*/jobs")
    source = EmbeddedSource()
    assert sample_count(source, window(endpoint="/v*/contacts")) == 17
    assert sample_count(source, window(endpoint="/v*/contacts", version="1.1.0")) == 7


def test_a_latency_objective_is_met_or_violated_by_the_bucket_at_its_threshold() -> None:
    record(count=96, at_ms=300)
    record(count=4, at_ms=400)
    result = evaluate(objective(), EmbeddedSource(), at=NOW)
    assert result.samples == 100
    assert result.sli == pytest.approx(0.96)
    assert result.verdict == MET
    record(count=10, at_ms=400, minutes_ago=2)
    assert evaluate(objective(name="again"), EmbeddedSource(), at=NOW).verdict == VIOLATED


def test_too_few_samples_is_insufficient_data_never_a_pass() -> None:
    record(count=5, at_ms=50)
    result = evaluate(objective(), EmbeddedSource(), at=NOW)
    assert result.verdict == INSUFFICIENT
    assert result.sli is None
    assert all(alert.state == INSUFFICIENT for alert in result.alerts)


def test_error_budget_and_burn_rates() -> None:
    # 99.9% target; 2% errors in the last 5 minutes and hour: burn 20x, the fast page fires.
    availability = objective(
        name="Success", endpoint="", kind="availability", threshold_ms=None, target=0.999
    )
    record(count=980, at_ms=50)
    record(count=20, at_ms=50, status_class="5xx")
    result = evaluate(availability, EmbeddedSource(), at=NOW)
    assert result.error_rate == pytest.approx(0.02)
    assert result.attainment == pytest.approx(0.98)
    assert result.budget_remaining == pytest.approx(1 - 0.02 / 0.001)
    fast = next(a for a in result.alerts if a.name == "page-fast")
    assert fast.long_burn == pytest.approx(20)
    assert fast.short_burn == pytest.approx(20)
    assert fast.state == "firing"
    record(count=5000, at_ms=50, minutes_ago=20)  # errors diluted over the hour: no page
    calmer = evaluate(availability, EmbeddedSource(), at=NOW)
    assert next(a for a in calmer.alerts if a.name == "page-fast").state == "ok"


def test_rate_limited_requests_are_not_errors() -> None:
    record(count=50, at_ms=5, status_class="429")
    record(count=50, at_ms=50)
    assert error_rate(EmbeddedSource(), window()) == 0


@pytest.mark.parametrize(
    ("kind", "threshold", "field"),
    [
        ("latency", None, "threshold_ms"),
        ("latency", 333, "threshold_ms"),
        ("availability", 300, "threshold_ms"),
    ],
)
def test_objectives_are_validated(kind: str, threshold: float | None, field: str) -> None:
    bad = SLObjective(name="x", kind=kind, threshold_ms=threshold, target=0.99)
    with pytest.raises(ValidationError) as caught:
        bad.full_clean()
    assert field in caught.value.message_dict


def test_the_seeds_objectives_are_installed() -> None:
    names = set(SLObjective.objects.values_list("name", flat=True))
    assert {
        "Health p95 < 50 ms",
        "Contacts p95 < 300 ms",
        "Jobs p95 < 400 ms",
        "Files p95 < 500 ms",
        "Files p99 < 1000 ms",
        "Error rate < 1%",
    } <= names


def test_slo_report_prints_a_table_and_json() -> None:
    out = StringIO()
    call_command("slo_report", "--window", "15m", stdout=out)
    text = out.getvalue()
    assert "Source: embedded" in text
    assert "Contacts p95 < 300 ms" in text
    assert "insufficient_data" in text
    out = StringIO()
    call_command("slo_report", "--format", "json", "--version", "9.9.9", stdout=out)
    rows = json.loads(out.getvalue())
    assert {row["objective"] for row in rows} >= {"Health p95 < 50 ms"}
    assert all(row["verdict"] == INSUFFICIENT for row in rows)


def test_slo_report_refuses_a_bad_window() -> None:
    with pytest.raises(CommandError):
        call_command("slo_report", "--window", "fortnight")


def test_slo_report_says_when_prometheus_is_missing_or_unreachable(settings: Any) -> None:
    with pytest.raises(CommandError, match="PROMETHEUS_URL is not set"):
        call_command("slo_report", "--source", "prometheus")
    settings.PROMETHEUS_URL = "http://127.0.0.1:1"
    with pytest.raises(CommandError, match="Prometheus query failed"):
        call_command("slo_report")


def test_series_split_the_window_into_whole_minute_steps(db: None) -> None:
    for status in (200, 200, 500):
        recorder.observe("GET", "/v*/jobs", status, 12.0, "1.0.0")
    recorder.flush()
    window = Window(timedelta(minutes=15), endpoint="/v*/jobs", version="1.0.0")
    points = EmbeddedSource().series(window, timedelta(minutes=5))
    assert len(points) == 3
    assert all(p.end.second == 0 and p.end.microsecond == 0 for p in points)
    assert [p.counts.requests for p in points] == [0, 0, 3]
    assert points[-1].counts.errors == 1
    assert sum(p.counts.requests for p in points) == EmbeddedSource().counts(window).requests
