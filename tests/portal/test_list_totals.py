"""List totals are cached per tenant and filter, and retired by any write through the app."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from contacts.models import Contact
from portal.models import Tenant
from tests.factories import ContactFactory, JobFactory


@pytest.fixture(autouse=True)
def _cached_totals(settings: Any) -> None:
    settings.LIST_COUNT_CACHE_SECONDS = 60


def total(client: APIClient, path: str = "/v1/contacts") -> int:
    response = client.get(path)
    assert response.status_code == 200
    value: int = response.json()["total"]
    return value


def test_it_counts_once_then_answers_from_the_cache(api: APIClient, tenant: Tenant) -> None:
    ContactFactory.create_batch(3, tenant=tenant)
    assert total(api) == 3
    with CaptureQueriesContext(connection) as queries:
        assert total(api) == 3
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_a_write_through_the_api_retires_the_total_at_once(
    api: APIClient, tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    ContactFactory.create_batch(2, tenant=tenant)
    assert total(api) == 2
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "/v1/contacts", {"name": "New", "email": "new@example.com"}, format="json"
        )
    assert created.status_code == 201
    assert total(api) == 3
    with django_capture_on_commit_callbacks(execute=True):
        api.delete(f"/v1/contacts/{created.json()['id']}")
    assert total(api) == 2


def test_filters_have_their_own_totals(api: APIClient, tenant: Tenant) -> None:
    ContactFactory.create(tenant=tenant, name="Zed Zebra")
    ContactFactory.create(tenant=tenant, name="Amy Apple")
    assert total(api, "/v1/contacts?q=zebra") == 1
    assert total(api, "/v1/contacts") == 2
    assert total(api, "/v1/contacts?q=zebra&limit=1&offset=0") == 1  # same filter, same total


def test_tenants_never_share_a_total(
    api: APIClient, other_api: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    ContactFactory.create_batch(2, tenant=tenant)
    ContactFactory.create_batch(5, tenant=other_tenant)
    assert total(api) == 2
    assert total(other_api) == 5


def test_a_write_to_another_model_keeps_the_total(
    api: APIClient, tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    contact = ContactFactory.create(tenant=tenant)
    assert total(api) == 1
    with django_capture_on_commit_callbacks(execute=True):
        JobFactory.create(tenant=tenant, contact=contact)
    with CaptureQueriesContext(connection) as queries:
        assert total(api) == 1
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    assert Contact.objects.count() == 1
