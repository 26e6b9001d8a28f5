from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from portal.resilience.breakers import breakers

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
ALLOWED = "https://app.portal.example.com"


@pytest.fixture(autouse=True)
def _origins(settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED]


def test_an_allowed_origin_gets_cors_headers_and_exposed_headers(api: APIClient) -> None:
    response = api.get("/v1/contacts", HTTP_ORIGIN=ALLOWED)
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert exposed >= {
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "x-request-id",
        "x-trace-id",
    }


def test_a_disallowed_origin_gets_no_allow_origin(api: APIClient) -> None:
    response = api.get("/v1/health", HTTP_ORIGIN="https://malicious.example.com")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_a_preflight_works_without_a_token(anon: APIClient) -> None:
    response = anon.options(
        "/v1/contacts",
        HTTP_ORIGIN=ALLOWED,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "authorization" in response["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("case", ["401", "429", "503"])
def test_error_responses_carry_cors_headers(
    anon: APIClient, api: APIClient, settings: Any, case: str
) -> None:
    if case == "401":
        response = anon.get("/v1/contacts", HTTP_ORIGIN=ALLOWED)
    elif case == "429":
        settings.RATE_LIMITS = {"default": "1/m", "files": "1/m"}
        api.get("/v1/contacts", HTTP_ORIGIN=ALLOWED)
        response = api.get("/v1/contacts", HTTP_ORIGIN=ALLOWED)
    else:
        breakers.database.open()
        response = api.get("/v1/contacts", HTTP_ORIGIN=ALLOWED)
    assert response.status_code == int(case)
    assert response["Access-Control-Allow-Origin"] == ALLOWED


def test_api_responses_cannot_be_framed_or_sniffed(api: APIClient) -> None:
    response = api.get("/v1/contacts")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_hsts_is_sent_over_tls_in_production(api: APIClient, settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    response = api.get("/v1/health", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in api.get("/v1/health")


def test_check_deploy_is_clean_under_production_settings() -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PORTAL_ENV": "production",
        "SECRET_KEY": "x" * 20 + "-production-like-secret-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "portal.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "accept", [None, "", "*/*", "application/json", "application/*", "text/html", "text/csv"]
)
def test_the_negotiation_shortcut_answers_as_drf_would(
    api: APIClient, accept: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rest_framework.views import APIView

    from portal.http.views import APIPolicyMixin

    headers: dict[str, Any] = {} if accept is None else {"HTTP_ACCEPT": accept}
    fast = api.get("/v1/contacts", **headers)
    monkeypatch.setattr(
        APIPolicyMixin, "perform_content_negotiation", APIView.perform_content_negotiation
    )
    full = api.get("/v1/contacts", **headers)
    assert (fast.status_code, fast["Content-Type"]) == (full.status_code, full["Content-Type"])


@pytest.mark.fast_paths
def test_policy_objects_are_made_once_per_view_and_follow_its_classes(api: APIClient) -> None:
    from rest_framework.parsers import FormParser

    from contacts.apis import ContactListView

    view = ContactListView()
    first = view.get_parsers()
    assert view.get_parsers() is first
    assert ContactListView().get_authenticators() is ContactListView().get_authenticators()
    original = ContactListView.parser_classes
    try:
        ContactListView.parser_classes = [FormParser]
        assert [type(p) for p in ContactListView().get_parsers()] == [FormParser]
    finally:
        ContactListView.parser_classes = original
    assert [type(p) for p in ContactListView().get_parsers()] == list(original)
