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

from portal.http import health as health_module
from portal.http.health import HealthView, forget_probes, is_bare_probe
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
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    query: str,
    headers: dict[str, str],
    status: int,
) -> None:
    dispatched: list[str] = []
    dispatch = HealthView.dispatch

    def counting(self: HealthView, request: Any, *args: Any, **kwargs: Any) -> Any:
        dispatched.append(request.method)
        return dispatch(self, request, *args, **kwargs)

    monkeypatch.setattr(HealthView, "dispatch", counting)
    path = f"/v1/health?{query}" if query else "/v1/health"
    response = getattr(anon, method)(path, **headers)
    assert response.status_code == status
    assert dispatched == [method.upper()]


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


# --- BareProbeMiddleware: the stack below it skipped once its answer is known ---


@pytest.fixture
def below(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each request that reached the middleware below the shortcut (the first of the
    stack that is skipped: CORS)."""
    from corsheaders.middleware import CorsMiddleware

    reached: list[str] = []
    call = CorsMiddleware.__call__

    def counting(self: Any, request: Any) -> Any:
        reached.append(request.path)
        return call(self, request)

    monkeypatch.setattr(CorsMiddleware, "__call__", counting)
    return reached


def _seen(response: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    status, headers, body = _answer(response)
    for per_request in ("X-Request-Id", "X-Trace-Id"):
        assert headers.pop(per_request)
    return status, headers, body


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("headers", BARE, ids=["no-accept", "any", "json"])
def test_once_known_the_stack_is_skipped_with_the_same_answer(
    state: str,
    headers: dict[str, Any],
    anon: APIClient,
    below: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    STATES[state](monkeypatch)
    first = _seen(anon.get("/v1/health", **headers))
    assert below == ["/v1/health"]
    forget_probes()
    second = _seen(anon.get("/v1/health", **headers))
    assert second == first
    assert first[0] == (503 if state == "unhealthy" else 200)
    # Healthy and degraded answers come from the shortcut; an unhealthy one from the stack.
    assert len(below) == (2 if state == "unhealthy" else 1)


def test_the_shortcut_is_logged_and_measured_as_the_route(
    anon: APIClient, below: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="portal.request"):
        anon.get("/v1/health")
        anon.get("/v1/health")
    assert len(below) == 1
    lines = [r for r in caplog.records if r.name == "portal.request"]
    assert [(r.endpoint, r.status) for r in lines] == [("/v*/health", 200)] * 2  # type: ignore[attr-defined]


def test_an_unhealthy_moment_after_a_known_answer_goes_through_the_stack(
    anon: APIClient, below: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = anon.get("/v1/health")
    assert healthy.status_code == 200
    _database_down(monkeypatch)
    forget_probes()
    reports: list[int] = []
    report = health_module.health_report

    def counting() -> Any:
        reports.append(1)
        return report()

    monkeypatch.setattr(health_module, "health_report", counting)
    down = anon.get("/v1/health")
    assert down.status_code == 503
    assert down.json()["status"] == "unhealthy"
    assert len(below) == 2
    # The stack's view answers with the report the shortcut made: the database is probed once.
    assert len(reports) == 1


@pytest.mark.parametrize(
    "other",
    [
        {"HTTP_HOST": "evil.example"},  # not in ALLOWED_HOSTS: 400, as the stack says
        {"HTTP_ORIGIN": "https://app.example.com"},  # CORS decides
        {"HTTP_COOKIE": "sessionid=x"},
        {"HTTP_USER_AGENT": "another-probe/1.0"},  # DISALLOWED_USER_AGENTS could refuse it
        {"HTTP_X_FORWARDED_PROTO": "https"},  # the HTTPS redirect and HSTS look at it
        {"HTTP_ACCEPT": "application/json"},
    ],
    ids=["host", "origin", "cookie", "user-agent", "forwarded-proto", "accept"],
)
def test_a_probe_that_differs_in_what_the_stack_reads_goes_through_it(
    anon: APIClient, below: list[str], other: dict[str, Any]
) -> None:
    known = anon.get("/v1/health")
    again = anon.get("/v1/health")
    assert len(below) == 1
    different = anon.get("/v1/health", **other)
    assert len(below) == 2
    if "HTTP_HOST" in other:
        assert different.status_code == 400
    else:
        assert different.status_code == 200
        assert _seen(known)[1] == _seen(again)[1]


def test_a_settings_change_forgets_the_known_answers(
    anon: APIClient, below: list[str], settings: Any
) -> None:
    assert anon.get("/v1/health")["X-Frame-Options"] == "DENY"
    assert anon.get("/v1/health")["X-Frame-Options"] == "DENY"
    assert len(below) == 1
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    assert anon.get("/v1/health")["X-Frame-Options"] == "SAMEORIGIN"
    assert anon.get("/v1/health")["X-Frame-Options"] == "SAMEORIGIN"
    assert len(below) == 2
