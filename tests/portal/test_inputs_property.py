"""No input gets a 5xx: every query parameter and header the API reads, with any text.

The class, not the instance: `expires=²` (non-ASCII digits), `ordering=--name` (a term that
only looked valid after stripping), a non-ASCII bearer on /metrics, `X-Request-Id: abc\\n`
(accepted by `re.match` with `$`) each gave a 500. Hypothesis throws arbitrary text, Unicode
digits, control characters and near-misses of valid values at all of them.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.models import Tenant
from tests.factories import ContactFactory, JobFactory, JobFileFactory

pytestmark = pytest.mark.django_db

# Text of every kind, plus values built to look almost valid.
NEAR_MISSES = st.sampled_from(
    [
        "²",
        "١٢",
        "٣",
        "12\n",
        " 5",
        "5 ",
        "+5",
        "-1",
        "1_0",
        "0x1f",
        "1e3",
        "9" * 40,
        "",
        "--name",
        "-",
        ",",
        "name,",
        "name,,email",
        "-name,-name",
        "NAME",
        "name\n",
        "n\u0430me",
        "\x00",
        "\u202e",
        "\ud7ff",
        "é" * 300,
        "%00",
        "../",
        "pending,",
        "pending\n",
    ]
)
TEXT = st.one_of(st.text(max_size=60), NEAR_MISSES)
HEADER_TEXT = st.builds(
    str.__add__,
    st.sampled_from(["", "", "Bearer ", "bearer ", "Token "]),
    st.one_of(
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80), NEAR_MISSES
    ),
)
LIST_PARAMS = {
    "/v1/contacts": ["limit", "offset", "ordering", "q"],
    "/v1/jobs": ["limit", "offset", "ordering", "status", "contact_id"],
    "{files}": ["limit", "offset"],
    "{download}": ["expires", "client", "signature"],
    "/metrics": ["format"],
}
HEADERS = [
    "HTTP_AUTHORIZATION",
    "HTTP_X_REQUEST_ID",
    "HTTP_X_TRACE_ID",
    "HTTP_TRACEPARENT",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_ORIGIN",
    "HTTP_ACCEPT",
    "HTTP_X_FAULT_DELAY_MS",
    "HTTP_X_FAULT_STATUS",
]
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def world(settings: Any, tenant: Tenant, token: str) -> dict[str, str]:
    settings.RATE_LIMITS = {"default": "1000000/m", "files": "1000000/m"}
    settings.METRICS_TOKEN = "metrics-secret"
    settings.TRUSTED_PROXY_COUNT = 1
    job = JobFactory.create(tenant=tenant, contact=ContactFactory.create(tenant=tenant))
    job_file = JobFileFactory.create(job=job)
    return {
        "token": token,
        "{files}": f"/v1/jobs/{job.id}/files",
        "{download}": f"/v1/jobs/{job.id}/files/{job_file.id}/download",
    }


def assert_answered(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    for name, value in response.items():
        assert "\n" not in value, (name, value)
        assert "\r" not in value, (name, value)


@given(data=st.data())
@HYPOTHESIS
def test_no_query_parameter_value_gets_a_5xx(world: dict[str, str], data: st.DataObject) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world['token']}")
    route = data.draw(st.sampled_from(sorted(LIST_PARAMS)))
    names = data.draw(st.lists(st.sampled_from(LIST_PARAMS[route]), min_size=1, unique=True))
    query = {name: data.draw(TEXT) for name in names}
    path = world.get(route, route)
    extra: dict[str, Any] = (
        {"HTTP_AUTHORIZATION": "Bearer metrics-secret"} if route == "/metrics" else {}
    )
    assert_answered(client.get(path, query, **extra))


@given(data=st.data())
@settings(HYPOTHESIS, max_examples=200)
def test_no_header_value_gets_a_5xx(world: dict[str, str], data: st.DataObject) -> None:
    headers: dict[str, Any] = {
        name: data.draw(HEADER_TEXT)
        for name in data.draw(st.lists(st.sampled_from(HEADERS), min_size=1, unique=True))
    }
    path = data.draw(st.sampled_from(["/v1/health", "/v1/contacts", "/metrics", "/v1/nope"]))
    assert_answered(Client().get(path, **headers))


@given(method=st.from_regex(r"[A-Z]{1,12}", fullmatch=True))
@HYPOTHESIS
def test_no_method_gets_a_5xx(world: dict[str, str], method: str) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world['token']}")
    response = client.generic(method, "/v1/contacts")
    assert response.status_code < 500


@given(depth=st.one_of(st.integers(1, 40), st.sampled_from([999, 1000, 5000, 100_000])))
@HYPOTHESIS
def test_json_of_any_depth_is_answered(world: dict[str, str], depth: int) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world['token']}")
    body = '{"name": ' + "[" * depth + "]" * depth + "}"
    response = client.post("/v1/contacts", body, content_type="application/json")
    assert_answered(response)
    assert response.status_code == 400
