"""Health's bare-probe path (portal.http.health.HealthView.as_view) answers exactly as DRF would.

Each bare request is sent to both paths, in each health state, and the two answers must have
the same status, headers and body (the timestamp and trace id are the moment's and the
request's own). Requests that are not bare must reach DRF."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import OperationalError
from django.test import RequestFactory
from rest_framework.test import APIClient

from portal.fastpaths.health import is_bare_probe
from portal.http.health import HealthView, forget_probes
from portal.resilience.breakers import breakers

pytestmark = pytest.mark.django_db

BARE: list[dict[str, Any]] = [{}, {"HTTP_ACCEPT": "*/*"}, {"HTTP_ACCEPT": "application/json"}]
NOT_BARE: list[tuple[str, str, dict[str, str], int]] = [
    # method, query string, headers, the status DRF answers
    ("get", "", {"HTTP_AUTHORIZATION": "Bearer rotated-away"}, 200),
    ("get", "verbose=1", {}, 400),
    ("get", "", {"HTTP_ACCEPT": "application/xml"}, 406),
    ("get", "", {"HTTP_ACCEPT": "text/html"}, 406),
    ("head", "", {}, 200),
    ("options", "", {}, 200),
    ("post", "", {}, 405),
    ("get", "", {"HTTP_TRANSFER_ENCODING": "chunked"}, 411),
]


def _healthy() -> None:
    pass


def _storage_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    def down() -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr("portal.http.health._probe_storage", down)
    breakers.storage.open()


def _database_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr("portal.http.health.connection.ensure_connection", down)


STATES: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "healthy": lambda _: _healthy(),
    "degraded": _storage_failing,
    "unhealthy": _database_down,
}


@pytest.fixture(autouse=True)
def _closed_breakers() -> Iterator[None]:
    forget_probes()
    yield
    for breaker in (breakers.storage, breakers.database):
        breaker.close()
    forget_probes()


def _answer(response: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    render = getattr(response, "render", None)
    if render is not None:
        render()
    body = json.loads(response.content)
    body.pop("timestamp"), body.pop("traceId")
    return response.status_code, dict(response.headers), body


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("headers", BARE, ids=["no-accept", "any", "json"])
def test_a_bare_probe_gets_what_drf_would_answer(
    state: str, headers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    STATES[state](monkeypatch)
    view: Any = HealthView.as_view()
    request = RequestFactory().get("/v1/health", **headers)
    assert is_bare_probe(request)
    fast = _answer(view(request))
    forget_probes()
    drf = _answer(view.__wrapped__(RequestFactory().get("/v1/health", **headers)))
    assert fast == drf
    assert fast[0] == (503 if state == "unhealthy" else 200)
    assert fast[2]["status"] == state


@pytest.mark.parametrize(("method", "query", "headers", "status"), NOT_BARE)
def test_anything_else_goes_through_drf(
    anon: APIClient,
    health_dispatches: list[str],
    method: str,
    query: str,
    headers: dict[str, str],
    status: int,
) -> None:
    path = f"/v1/health?{query}" if query else "/v1/health"
    response = getattr(anon, method)(path, **headers)
    assert response.status_code == status
    assert health_dispatches == [method.upper()]


@pytest.mark.fast_paths
def test_a_bare_probe_skips_drf_end_to_end(
    anon: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through every middleware: the probe is answered, logged and measured like any request."""
    monkeypatch.setattr(HealthView, "dispatch", lambda *a, **k: pytest.fail("reached DRF"))
    response = anon.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["traceId"] == response["X-Trace-Id"]
    assert response["X-Request-Id"]
    assert response["Allow"] == "GET, HEAD, OPTIONS"
