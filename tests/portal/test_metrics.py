from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from portal.observability.metrics import BUCKETS_MS, cumulative, endpoint_label, histogram_quantile
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db


def value(name: str, **labels: str) -> float:
    labels = {"version": "1.0.0", "traffic": "customer", **labels}
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("route", "label"),
    [
        ("v1/health", "/v*/health"),
        ("v1/contacts/<str:contact_id>", "/v*/contacts/{contactId}"),
        ("v1/jobs/<str:job_id>/files", "/v*/jobs/{jobId}/files"),
        (
            "v1/jobs/<str:job_id>/files/<str:file_id>/download",
            "/v*/jobs/{jobId}/files/{fileId}/download",
        ),
        ("v2/jobs", "/v*/jobs"),
        ("metrics", "/metrics"),
        (None, "unmatched"),
    ],
)
def test_endpoint_labels_are_templates_with_the_version_wildcarded(
    route: str | None, label: str
) -> None:
    assert endpoint_label(route) == label


def test_every_slo_threshold_is_a_bucket_bound() -> None:
    assert {50, 100, 300, 400, 500, 600, 800, 1000} <= set(BUCKETS_MS)


def test_quantiles_follow_prometheus_interpolation() -> None:
    per_bucket = [0.0] * (len(BUCKETS_MS) + 1)
    per_bucket[BUCKETS_MS.index(50)] = 100  # all 100 observations in (25, 50]
    pairs = cumulative(per_bucket)
    assert histogram_quantile(0.5, pairs) == pytest.approx(37.5)
    assert histogram_quantile(0.95, pairs) == pytest.approx(48.75)
    assert histogram_quantile(0.5, cumulative([0.0] * (len(BUCKETS_MS) + 1))) is None
    per_bucket[-1] = 1000  # most in +Inf: the highest finite bound, as Prometheus answers
    assert histogram_quantile(0.99, cumulative(per_bucket)) == 10000


def test_requests_are_counted_by_route_template(api: APIClient, tenant: object) -> None:
    labels = {"method": "GET", "endpoint": "/v*/contacts/{contactId}"}
    before = value("http_requests_total", **labels)
    buckets_before = value("http_request_duration_ms_count", **labels)
    api.get("/v1/contacts/550e8400-e29b-41d4-a716-446655440000")
    api.get("/v1/contacts/not-an-id")
    assert value("http_requests_total", **labels) == before + 2
    assert value("http_request_duration_ms_count", **labels) == buckets_before + 2


def test_5xx_responses_are_errors_and_4xx_are_not(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = {"method": "GET", "endpoint": "/v*/contacts"}
    before = value("http_requests_errors_total", **labels)
    api.get("/v1/contacts", {"limit": "x"})
    assert value("http_requests_errors_total", **labels) == before

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("contacts.apis.ContactListView.filter_queryset", explode)
    api.get("/v1/contacts")
    assert value("http_requests_errors_total", **labels) == before + 1


def test_unknown_paths_share_one_label(client: Client) -> None:
    before = value("http_requests_total", method="GET", endpoint="unmatched")
    client.get("/no/such/thing/123")
    client.get("/another/456")
    assert value("http_requests_total", method="GET", endpoint="unmatched") == before + 2


def test_the_prometheus_exposition_has_the_seeds_series(anon: APIClient, client: Client) -> None:
    anon.get("/v1/health")
    response = client.get("/metrics", {"format": "prometheus"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE http_requests_total counter" in text
    assert "# TYPE http_request_duration_ms histogram" in text
    assert (
        'http_requests_total{endpoint="/v*/health",method="GET",traffic="customer",version="1.0.0"}'
        in text
    )
    assert 'http_request_duration_ms_bucket{endpoint="/v*/health",le="50.0"' in text
    assert "http_request_duration_ms_sum{" in text
    assert "# TYPE http_requests_errors_total counter" in text
    assert 'circuit_breaker_state{name="database"} 0' in text
    # One family per fact: django-prometheus's request series would count every request again.
    assert "django_http_requests" not in text


def test_the_json_summary_has_quantiles_and_counts(anon: APIClient, client: Client) -> None:
    def health_summary() -> dict[str, Any]:
        body = client.get("/metrics", {"format": "json"}).json()
        return next(e for e in body["endpoints"] if e["endpoint"] == "/v*/health")

    anon.get("/v1/health")
    before = health_summary()
    for _ in range(3):
        anon.get("/v1/health")
    health = health_summary()
    assert health["method"] == "GET"
    assert health["requests"] == before["requests"] + 3
    assert health["errors"] == before["errors"]
    assert 0 < health["p50"] <= health["p95"] <= health["p99"]


def test_a_metrics_token_guards_the_endpoint(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-secret"
    response = client.get("/metrics")
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


def test_refused_metrics_tokens_are_throttled_per_address(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-secret"
    settings.METRICS_AUTH_RATE = "3/m"
    guesses = [
        client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer guess-{n}", REMOTE_ADDR="203.0.113.9")
        for n in range(5)
    ]
    assert [r.status_code for r in guesses] == [401, 401, 401, 429, 429]
    assert_problem(guesses[-1], 429, "RATE_LIMIT_EXCEEDED")
    assert guesses[-1]["Retry-After"] == "60"
    # Past the limit even the right token is not checked from that address...
    right = "Bearer scrape-secret"
    blocked = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=right)
    assert blocked.status_code == 429
    # ...while the scraper at its own address goes on as before.
    scraper = client.get("/metrics", REMOTE_ADDR="198.51.100.7", HTTP_AUTHORIZATION=right)
    assert scraper.status_code == 200


def test_an_unknown_format_is_a_problem(client: Client) -> None:
    assert_problem(client.get("/metrics", {"format": "xml"}), 400, "VALIDATION_ERROR")


def test_invented_methods_cannot_grow_the_exposition(api: APIClient, client: Client) -> None:
    for number in range(40):
        api.generic(f"X{number:03d}YZ", "/v1/contacts")
    exposition = client.get("/metrics").content.decode()
    methods = set(re.findall(r'method="([^"]*)"', exposition))
    assert "X000YZ" not in exposition
    assert "OTHER" in methods
    # Every series, ours and django-prometheus's, uses the known methods or OTHER.
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
