from __future__ import annotations

import re

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
URL = "/v1/health"


def test_it_reports_healthy_in_the_seed_shape(anon: APIClient, settings: object) -> None:
    response = anon.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"status", "timestamp", "version", "traceId", "circuitBreakers"}
    assert body["status"] == "healthy"
    assert body["version"] == "1.0.0"
    assert body["circuitBreakers"] == {}
    assert body["traceId"] == response["X-Trace-Id"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["timestamp"])


def test_the_version_comes_from_settings(anon: APIClient, settings: object) -> None:
    settings.APP_VERSION = "1.1.0-rc1"  # type: ignore[attr-defined]
    assert anon.get(URL).json()["version"] == "1.1.0-rc1"


def test_a_token_is_accepted_and_a_bad_one_ignored(api: APIClient, anon: APIClient) -> None:
    assert api.get(URL).status_code == 200
    anon.credentials(HTTP_AUTHORIZATION="Bearer rotated-away")
    assert anon.get(URL).status_code == 200


def test_it_is_unhealthy_when_the_database_is_unreachable(
    anon: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr("portal.http.health.connection.ensure_connection", down)
    response = anon.get(URL)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"] == {"database": "unreachable"}
    assert "connection refused" not in response.content.decode()


def test_only_reads_are_allowed(anon: APIClient) -> None:
    assert anon.post(URL).status_code == 405
