from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from portal.models import Tenant
from portal.resilience.ratelimit import client_address
from tests.factories import JobFactory
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db


def limited(settings: Any, default: str = "3/m", files: str = "4/m") -> None:
    settings.RATE_LIMITS = {"default": default, "files": files}


def test_every_response_carries_the_limit_headers(api: APIClient) -> None:
    before = int(time.time())
    response = api.get("/v1/contacts")
    assert response["X-RateLimit-Limit"] == "60"
    assert response["X-RateLimit-Remaining"] == "59"
    reset = int(response["X-RateLimit-Reset"])
    assert before < reset <= before + 60
    assert api.get("/v1/contacts")["X-RateLimit-Remaining"] == "58"


def test_health_with_a_token_is_limited_per_token(api: APIClient) -> None:
    response = api.get("/v1/health")
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("60", "59")


def test_errors_carry_the_headers_too(api: APIClient) -> None:
    response = api.get("/v1/contacts", {"limit": "x"})
    assert response.status_code == 400
    assert response["X-RateLimit-Limit"] == "60"


def test_the_files_group_has_its_own_limit_and_counter(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    response = api.get(f"/v1/jobs/{job.id}/files", {"limit": 1})
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("120", "119")
    # Files requests do not use up the default group.
    assert api.get("/v1/contacts")["X-RateLimit-Remaining"] == "59"


def test_over_the_limit_is_a_429_problem_with_retry_after(api: APIClient, settings: Any) -> None:
    limited(settings)
    for _ in range(3):
        assert api.get("/v1/contacts").status_code == 200
    response = api.get("/v1/contacts", HTTP_X_TRACE_ID="rate-limit-test-001")
    body = assert_problem(response, 429, "RATE_LIMIT_EXCEEDED")
    assert body["type"].endswith("/errors/rate-limit")
    assert body["title"] == "Too Many Requests"
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    assert body["detail"] == f"API rate limit exceeded. Please retry after {wait} seconds"
    assert response["X-RateLimit-Remaining"] == "0"
    assert response["X-RateLimit-Limit"] == "3"


def test_the_files_429_names_the_files_endpoint(
    api: APIClient, tenant: Tenant, settings: Any
) -> None:
    limited(settings)
    job = JobFactory.create(tenant=tenant)
    for _ in range(4):
        api.get(f"/v1/jobs/{job.id}/files")
    response = api.get(f"/v1/jobs/{job.id}/files")
    body = assert_problem(response, 429, "RATE_LIMIT_EXCEEDED")
    assert body["detail"].startswith("Files endpoint rate limit exceeded. Please retry after")
    assert response["Cache-Control"] == "private, max-age=0, no-store"


def test_limits_are_per_token(api: APIClient, other_api: APIClient, settings: Any) -> None:
    limited(settings)
    for _ in range(4):
        api.get("/v1/contacts")
    assert api.get("/v1/contacts").status_code == 429
    assert other_api.get("/v1/contacts").status_code == 200


def test_a_tenant_override_applies(api: APIClient, tenant: Tenant, settings: Any) -> None:
    limited(settings)
    Tenant.objects.filter(pk=tenant.pk).update(rate_limit_default="5/m")
    responses = [api.get("/v1/contacts") for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert responses[0]["X-RateLimit-Limit"] == "5"


def test_anonymous_callers_are_limited_by_address(anon: APIClient, settings: Any) -> None:
    limited(settings)
    for _ in range(3):
        assert anon.get("/v1/contacts", REMOTE_ADDR="10.0.0.1").status_code == 401
    assert anon.get("/v1/contacts", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert anon.get("/v1/contacts", REMOTE_ADDR="10.0.0.2").status_code == 401


def test_anonymous_health_is_never_limited(anon: APIClient, settings: Any) -> None:
    # Kubelets probe every pod on a node from the node's one address.
    limited(settings)
    for _ in range(10):
        response = anon.get("/v1/health", REMOTE_ADDR="10.0.0.1")
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response


def test_health_with_a_token_is_counted_per_token(api: APIClient, settings: Any) -> None:
    limited(settings)
    codes = [api.get("/v1/health").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_failed_authentication_is_counted_too(anon: APIClient, settings: Any) -> None:
    limited(settings)
    anon.credentials(HTTP_AUTHORIZATION="Bearer guess")
    codes = [anon.get("/v1/contacts").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_preflight_and_unlimited_routes_have_no_limit_headers(anon: APIClient) -> None:
    assert "X-RateLimit-Limit" not in anon.get("/v1/schema")


@pytest.mark.parametrize(
    ("hops", "forwarded", "remote", "expected"),
    [
        (0, "1.1.1.1", "10.0.0.9", "10.0.0.9"),
        (1, "1.1.1.1", "10.0.0.9", "1.1.1.1"),
        (1, "6.6.6.6, 1.1.1.1", "10.0.0.9", "1.1.1.1"),
        (2, "6.6.6.6, 1.1.1.1, 10.0.0.5", "10.0.0.9", "1.1.1.1"),
        (2, "1.1.1.1", "10.0.0.9", "10.0.0.9"),
        (1, "not-an-ip", "10.0.0.9", "10.0.0.9"),
    ],
)
def test_forwarded_addresses_are_trusted_only_from_known_proxies(
    settings: Any, hops: int, forwarded: str, remote: str, expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = hops
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert client_address(request) == expected


def test_django_ratelimits_own_exception_is_a_429_not_a_403() -> None:
    from django_ratelimit.exceptions import Ratelimited

    from portal.http.problems import exception_handler, handler403

    request = RequestFactory().get("/")
    assert handler403(request, Ratelimited()).status_code == 429
    response = exception_handler(Ratelimited(), {})
    assert response.status_code == 429
    assert response.data["code"] == "RATE_LIMIT_EXCEEDED"
