"""Query parameters are as strict as bodies, on every route: an unknown one or one given twice is
a 400 that lists what the route takes, and an empty filter is refused, not ignored."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from portal.models import Tenant
from tests.factories import ContactFactory, JobFactory, JobFileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def routes(tenant: Tenant) -> dict[str, tuple[str, set[str]]]:
    contact = ContactFactory.create(tenant=tenant)
    job = JobFactory.create(tenant=tenant, contact=contact)
    job_file = JobFileFactory.create(job=job)
    page = {"limit", "offset", "cursor"}
    return {
        "health": ("/v1/health", set()),
        "contacts": ("/v1/contacts", {*page, "q", "ordering"}),
        "contact": (f"/v1/contacts/{contact.pk}", set()),
        "jobs": ("/v1/jobs", {*page, "status", "contact_id", "ordering"}),
        "job": (f"/v1/jobs/{job.pk}", set()),
        "files": (f"/v1/jobs/{job.pk}/files", page),
        "file": (f"/v1/jobs/{job.pk}/files/{job_file.pk}", set()),
    }


@pytest.mark.parametrize("route", ["health", "contacts", "contact", "jobs", "job", "files", "file"])
def test_an_unknown_parameter_is_a_400_listing_the_known_ones(
    api: APIClient, routes: dict[str, Any], route: str
) -> None:
    path, known = routes[route]
    response = api.get(path, {"limt": "5"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    error = body["errors"][0]
    assert error["field"] == "limt"
    for name in known:
        assert name in error["message"]
    # Known parameters alone still work.
    assert api.get(path).status_code == 200


@pytest.mark.parametrize(
    ("route", "param", "value"),
    [("contacts", "limit", "5"), ("jobs", "status", "pending"), ("contacts", "q", "a")],
)
def test_a_parameter_given_twice_is_a_400(
    api: APIClient, routes: dict[str, Any], route: str, param: str, value: str
) -> None:
    path, _ = routes[route]
    response = api.get(f"{path}?{param}={value}&{param}={value}")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {"field": param, "message": "Give this parameter once."}


@pytest.mark.parametrize(("route", "param"), [("contacts", "q"), ("jobs", "status")])
def test_an_empty_filter_is_refused(
    api: APIClient, routes: dict[str, Any], route: str, param: str
) -> None:
    path, _ = routes[route]
    response = api.get(f"{path}?{param}=")
    assert response.status_code == 400
    assert "leave the parameter out" in response.json()["errors"][0]["message"]


def test_without_a_token_the_answer_is_still_401(anon: APIClient) -> None:
    assert anon.get("/v1/contacts", {"limt": "5"}).status_code == 401
