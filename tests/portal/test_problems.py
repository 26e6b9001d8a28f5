"""Every error the process produces is a problem document, inside DRF and outside it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db


def test_unknown_paths_are_problems(api: APIClient) -> None:
    body = assert_problem(api.get("/v1/nothing-here"), 404, "NOT_FOUND")
    assert body["type"] == "https://portal.example.com/errors/not-found"
    assert body["title"] == "Not Found"


def test_paths_outside_the_api_are_problems_too() -> None:
    assert_problem(Client().get("/no/such/page"), 404, "NOT_FOUND")


def test_the_problem_base_url_is_configurable(api: APIClient, settings: Any) -> None:
    settings.PROBLEM_BASE_URL = "https://errors.example.org"
    response = api.get("/v1/contacts", {"limit": 0})
    assert response.json()["type"] == "https://errors.example.org/errors/validation"


def test_method_not_allowed_is_a_problem(api: APIClient) -> None:
    assert_problem(api.put("/v1/contacts", {}, format="json"), 405, "METHOD_NOT_ALLOWED")


def test_not_acceptable_is_a_problem(api: APIClient) -> None:
    assert_problem(api.get("/v1/contacts", HTTP_ACCEPT="text/csv"), 406, "NOT_ACCEPTABLE")


def test_an_unhandled_api_exception_is_a_500_without_internals(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr("contacts.apis.ContactListView.filter_queryset", explode)
    response = api.get("/v1/contacts")
    body = assert_problem(response, 500, "INTERNAL_ERROR")
    assert "SELECT" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert body["detail"] == "An unexpected error occurred"
    # The operator gets the trace, keyed by the same trace id.
    [record] = [r for r in caplog.records if r.name == "portal.problems"]
    assert "SELECT secret" in caplog.text
    assert record.trace_id == body["traceId"]  # type: ignore[attr-defined]


def test_an_unhandled_exception_outside_drf_is_a_500_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    # Raised from a middleware, before any view: Django's handler500 answers.
    monkeypatch.setattr("django.middleware.common.CommonMiddleware.process_request", explode)
    client = Client(raise_request_exception=False)
    response = client.get("/metrics")
    assert_problem(response, 500, "INTERNAL_ERROR")
    assert "boom" not in response.content.decode()
    # The same problem as a page where people read pages.
    page = client.get("/admin/login/")
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")
    assert "500 · Internal Server Error" in page.content.decode()
    assert "boom" not in page.content.decode()


def test_validation_errors_list_every_field(api: APIClient) -> None:
    body = assert_problem(
        api.post("/v1/contacts", {"email": "x"}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert sorted(e["field"] for e in body["errors"]) == ["email", "name"]
    assert all(e["message"] for e in body["errors"])
