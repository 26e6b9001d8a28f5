from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from portal.models import Tenant
from tests.factories import ContactFactory
from tests.helpers import assert_problem, error_fields

URL = "/v1/contacts"
pytestmark = pytest.mark.django_db


def test_it_lists_contacts_in_the_envelope(api: APIClient, tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant, name="Ada Lovelace", email="ada@example.com")
    response = api.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body == {
        "data": [
            {
                "id": str(contact.id),
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "phone": contact.phone,
                "company": contact.company,
                "created_at": body["data"][0]["created_at"],
                "updated_at": body["data"][0]["updated_at"],
            }
        ],
        "total": 1,
        "limit": 20,
        "offset": 0,
        "has_more": False,
        "next_cursor": None,
    }
    assert body["data"][0]["created_at"].endswith("Z")
    assert len(body["data"][0]["created_at"]) == len("2025-09-02T02:05:23.456Z")


def test_it_hides_other_tenants_contacts(
    api: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    ContactFactory.create_batch(3, tenant=tenant)
    ContactFactory.create_batch(5, tenant=other_tenant, name="Globex person")
    body = api.get(URL, {"limit": 100}).json()
    assert body["total"] == 3
    assert all(item["name"] != "Globex person" for item in body["data"])
    assert api.get(URL, {"q": "Globex person"}).json()["total"] == 0


def test_it_paginates_with_has_more(api: APIClient, tenant: Tenant) -> None:
    ContactFactory.create_batch(5, tenant=tenant)
    first = api.get(URL, {"limit": 2}).json()
    assert (first["total"], first["limit"], first["offset"], first["has_more"]) == (5, 2, 0, True)
    last = api.get(URL, {"limit": 2, "offset": 4}).json()
    assert len(last["data"]) == 1
    assert last["has_more"] is False
    beyond = api.get(URL, {"offset": 50}).json()
    assert beyond["data"] == []
    assert beyond["has_more"] is False


def test_pages_never_repeat_or_skip_items_with_equal_sort_keys(
    api: APIClient, tenant: Tenant
) -> None:
    ContactFactory.create_batch(7, tenant=tenant, name="Same Name")
    seen: list[str] = []
    for offset in range(0, 7, 2):
        page = api.get(URL, {"limit": "2", "offset": str(offset), "ordering": "name"}).json()
        seen += [item["id"] for item in page["data"]]
    assert len(seen) == 7
    assert len(set(seen)) == 7


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"offset": "-5"}, "offset"),
        ({"offset": "1.5"}, "offset"),
        ({"offset": "99999999999"}, "offset"),
        ({"ordering": "password"}, "ordering"),
    ],
)
def test_it_refuses_bad_list_parameters(api: APIClient, params: dict[str, str], field: str) -> None:
    body = assert_problem(api.get(URL, params), 400, "VALIDATION_ERROR")
    assert error_fields(body) == {field}


def test_it_searches_name_email_and_company(api: APIClient, tenant: Tenant) -> None:
    ContactFactory.create(tenant=tenant, name="Grace Hopper", email="g@navy.mil", company="Navy")
    ContactFactory.create(
        tenant=tenant, name="Alan Turing", email="alan@bletchley.uk", company="GCHQ"
    )
    assert [c["name"] for c in api.get(URL, {"q": "hopper"}).json()["data"]] == ["Grace Hopper"]
    assert [c["name"] for c in api.get(URL, {"q": "BLETCHLEY"}).json()["data"]] == ["Alan Turing"]
    assert [c["name"] for c in api.get(URL, {"q": "navy"}).json()["data"]] == ["Grace Hopper"]


def test_it_orders_by_requested_field(api: APIClient, tenant: Tenant) -> None:
    for name in ["Carol", "alice", "Bob"]:
        ContactFactory.create(tenant=tenant, name=name)
    names = [c["name"] for c in api.get(URL, {"ordering": "-name"}).json()["data"]]
    assert names == sorted(names, reverse=True)


def test_list_query_count_does_not_grow_with_page_size(
    api: APIClient, tenant: Tenant, django_assert_num_queries: Any, settings: Any
) -> None:
    # As shipped: the token is cached per worker, the total for LIST_COUNT_CACHE_SECONDS; the
    # steady state is the page query alone.
    settings.LIST_COUNT_CACHE_SECONDS = 10
    ContactFactory.create_batch(30, tenant=tenant)
    api.get(URL, {"limit": 1})  # warms last_used_at
    with django_assert_num_queries(1):
        assert len(api.get(URL, {"limit": 1}).json()["data"]) == 1
    with django_assert_num_queries(1):
        assert len(api.get(URL, {"limit": 30}).json()["data"]) == 30


def test_it_requires_a_token(anon: APIClient) -> None:
    response = anon.get(URL)
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_an_unknown_token(anon: APIClient) -> None:
    anon.credentials(HTTP_AUTHORIZATION="Bearer pt_nope_nope")
    response = anon.get(URL)
    assert_problem(response, 401, "INVALID_TOKEN")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_is_never_cacheable_by_shared_caches(api: APIClient) -> None:
    assert "no-store" in api.get(URL)["Cache-Control"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
def test_search_has_a_trigram_index_on_postgresql(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'contact_search_trgm'")
        (definition,) = cursor.fetchone() or ("",)
    for column in ("name", "email", "company"):
        assert f"upper(({column})::text) gin_trgm_ops" in definition
