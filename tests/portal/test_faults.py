from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from tests.helpers import assert_problem

ROOT = Path(__file__).resolve().parents[2]


def manage_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`manage.py check` in a fresh process: settings refuse bad configuration at start."""
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.django_db
def test_fault_headers_do_nothing_unless_enabled(client: Client) -> None:
    response = client.get("/v1/health", HTTP_X_FAULT_STATUS="500")
    assert response.status_code == 200


@pytest.mark.django_db
def test_an_injected_failure_is_a_problem_measured_under_its_route(client: Client) -> None:
    from portal.config.settings import MIDDLEWARE

    middleware = list(MIDDLEWARE)
    middleware.insert(
        middleware.index("portal.observability.request_context.RequestContextMiddleware") + 1,
        "portal.resilience.faults.FaultInjectionMiddleware",
    )
    with override_settings(MIDDLEWARE=middleware):
        response = client.get("/v1/health", HTTP_X_FAULT_STATUS="503")
    assert_problem(response, 503, "SERVICE_UNAVAILABLE")


def test_fault_injection_is_refused_in_production() -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PORTAL_ENV": "production",
        "SECRET_KEY": "s" * 60,
        "FAULT_INJECTION": "true",
    }
    result = manage_check(env)
    assert result.returncode != 0
    assert "FAULT_INJECTION must not be enabled in production" in result.stderr


@pytest.mark.django_db
def test_a_standing_error_share_fails_that_route_only(client: Client, token: str) -> None:
    """FAULT_ERRORS (make canary BROKEN=1): a share of one route's requests answer 500."""
    from portal.config.settings import MIDDLEWARE

    middleware = list(MIDDLEWARE)
    middleware.insert(
        middleware.index("portal.observability.request_context.RequestContextMiddleware") + 1,
        "portal.resilience.faults.FaultInjectionMiddleware",
    )
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    with override_settings(
        MIDDLEWARE=middleware, FAULT_ERRORS={"/v*/contacts": 1.0}, RATE_LIMIT_DEFAULT="1000/m"
    ):
        assert_problem(client.get("/v1/contacts", **auth), 500, "INTERNAL_ERROR")
        assert client.get("/v1/jobs", **auth).status_code == 200
    with override_settings(MIDDLEWARE=middleware, FAULT_ERRORS={"/v*/contacts": 0.0}):
        assert client.get("/v1/contacts", **auth).status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FAULT_ERRORS", "/v*/contacts"),
        ("FAULT_ERRORS", "/v*/contacts=lots"),
        ("FAULT_ERRORS", "/v*/contacts=1.5"),
        ("FAULT_SLOWDOWN", "/v*/contacts=slow"),
        ("FAULT_SLOWDOWN", "/v*/contacts=-2"),
    ],
)
def test_a_bad_fault_setting_stops_the_server_with_a_message(name: str, value: str) -> None:
    env = {**os.environ, "FAULT_INJECTION": "true", name: value}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = manage_check(env)
    assert result.returncode != 0
    assert f"{name}: " in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "traffic"),
    [
        # A rehearsal's faulted request, answered before authentication: still its own.
        ({"HTTP_X_FAULT_STATUS": "503", "HTTP_X_REHEARSAL": "1"}, "rehearsal"),
        ({"HTTP_X_REHEARSAL": "1"}, "rehearsal"),
        # A faulted request without it is what a broken canary serves its clients.
        ({"HTTP_X_FAULT_STATUS": "503"}, "customer"),
        ({}, "customer"),
    ],
)
def test_a_rehearsals_requests_are_labelled_whatever_answers_them(
    client: Client, headers: dict[str, str], traffic: str
) -> None:
    from portal.config.settings import MIDDLEWARE
    from portal.observability import metrics

    seen: list[str] = []
    middleware = list(MIDDLEWARE)
    middleware.insert(
        middleware.index("portal.observability.request_context.RequestContextMiddleware") + 1,
        "portal.resilience.faults.FaultInjectionMiddleware",
    )

    def observer(*args: Any) -> None:
        seen.append(args[-1])

    metrics.add_observer(observer)
    try:
        with override_settings(MIDDLEWARE=middleware):
            client.get("/v1/health", **headers)  # type: ignore[arg-type]
    finally:
        metrics.remove_observer(observer)
    assert seen == [traffic]
