from __future__ import annotations

import errno
import time
from typing import Any

import pybreaker
import pytest
from django.core.cache import caches
from django.db import OperationalError
from rest_framework.test import APIClient

from portal.resilience.breakers import SharedCacheStorage, breakers, describe, not_closed
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db


def fail_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr("contacts.apis.ContactListView.filter_queryset", down)
    monkeypatch.setattr("portal.http.health.connection.ensure_connection", down)


def test_a_database_error_is_a_retryable_503_not_a_500(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_database(monkeypatch)
    response = api.get("/v1/contacts")
    body = assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert int(response["Retry-After"]) >= 1
    assert "connection refused" not in body["detail"]
    assert breakers.database.fail_counter == 1


def test_repeated_failures_open_the_breaker_and_then_it_fails_fast(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    fail_database(monkeypatch)
    for _ in range(settings.BREAKER_FAIL_MAX):
        assert api.get("/v1/contacts").status_code == 503
    assert breakers.database.current_state == pybreaker.STATE_OPEN
    monkeypatch.undo()
    # Open: refused without reaching the view, even though the database is back.
    response = api.get("/v1/contacts")
    assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert 1 <= int(response["Retry-After"]) <= settings.BREAKER_RESET_TIMEOUT


def test_health_lists_an_open_database_breaker_as_unhealthy(
    anon: APIClient, api: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    fail_database(monkeypatch)
    for _ in range(settings.BREAKER_FAIL_MAX):
        api.get("/v1/contacts")
    response = anon.get("/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    database = body["circuitBreakers"]["database"]
    assert database["state"] == "open"
    assert database["failures"] >= settings.BREAKER_FAIL_MAX
    assert database["openedAt"].endswith("Z")
    assert database["retryAt"] > database["openedAt"]


def test_the_breaker_half_opens_and_closes_on_success(
    api: APIClient, anon: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.BREAKER_RESET_TIMEOUT = 1
    breakers.reset()
    fail_database(monkeypatch)
    for _ in range(settings.BREAKER_FAIL_MAX):
        api.get("/v1/contacts")
    monkeypatch.undo()
    time.sleep(1.1)
    # The health check is the half-open probe, so recovery needs no API traffic.
    response = anon.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["circuitBreakers"] == {}
    assert breakers.database.current_state == pybreaker.STATE_CLOSED
    assert api.get("/v1/contacts").status_code == 200


def storage_down() -> None:
    raise OSError(errno.EIO, "Input/output error")


def test_a_non_critical_open_breaker_makes_health_degraded(
    anon: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("portal.http.health._probe_storage", storage_down)
    breakers.storage.open()
    response = anon.get("/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert set(body["circuitBreakers"]) == {"storage"}


def test_closed_breakers_are_not_listed() -> None:
    assert not_closed() == {}
    view = describe(breakers.database)
    assert (view.state, view.opened_at, view.retry_at) == ("closed", None, None)


def test_workers_trust_the_breaker_state_they_read_for_a_moment(settings: Any) -> None:
    settings.BREAKER_STATE_CACHE_MS = 60_000
    mine = SharedCacheStorage("database")
    assert mine.state == pybreaker.STATE_CLOSED
    # Another worker opens the breaker: this one keeps its fresh view for a moment...
    SharedCacheStorage("database").state = pybreaker.STATE_OPEN
    assert mine.state == pybreaker.STATE_CLOSED
    # ...and sees it once the view is older than the setting.
    settings.BREAKER_STATE_CACHE_MS = 0
    assert mine.state == pybreaker.STATE_OPEN


def test_a_success_does_not_rewrite_an_unchanged_counter(settings: Any) -> None:
    settings.BREAKER_STATE_CACHE_MS = 60_000
    storage = SharedCacheStorage("storage")
    storage.reset_counter()
    caches["shared"].set("breaker:storage:failures", 7, None)  # written elsewhere meanwhile
    storage.reset_counter()  # this process saw 0 a moment ago: no write
    assert caches["shared"].get("breaker:storage:failures") == 7
    storage.increment_counter()  # counting always reaches the shared cache
    assert caches["shared"].get("breaker:storage:failures") == 8
