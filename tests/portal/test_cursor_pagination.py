"""Cursor (keyset) pagination on every list, in every ordering: walking by cursor visits
exactly the rows an offset walk does, in the same order, and inserts made meanwhile never
shift a page. Cursors are opaque and tamper-evident; offsets past the ceiling point to them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from contacts.apis import ContactListView
from contacts.models import Contact
from jobs.apis import JobListView
from portal.http.pagination import MAX_OFFSET
from portal.models import Tenant
from tests.factories import ContactFactory, JobFactory, JobFileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(tenant: Tenant) -> dict[str, Any]:
    # Ties on every field (shared names, companies, blank emails, equal timestamps) and null
    # scheduled_for values, so ties and nulls are exercised, not only distinct values.
    contacts = [
        ContactFactory.create(
            tenant=tenant,
            name=f"Name {i % 3}",
            company=["", "Acme", "Zeta"][i % 3],
            email="" if i % 4 == 0 else f"c{i}@example.com",
        )
        for i in range(23)
    ]
    now = timezone.now()
    for i, contact in enumerate(contacts[:17]):
        JobFactory.create(
            tenant=tenant,
            contact=contact,
            title=f"Job {i % 4}",
            scheduled_for=None if i % 3 == 0 else now + timedelta(days=i % 5),
        )
    job = JobFactory.create(tenant=tenant, contact=contacts[0], title="with files")
    for _ in range(7):
        JobFileFactory.create(job=job)
    return {"job": job}


def walk_by_offset(api: APIClient, url: str) -> list[str]:
    body = api.get(f"{url}{'&' if '?' in url else '?'}limit=100").json()
    assert body["total"] == len(body["data"])
    return [item["id"] for item in body["data"]]


def walk_by_cursor(api: APIClient, url: str, limit: int) -> list[str]:
    sep = "&" if "?" in url else "?"
    body = api.get(f"{url}{sep}limit={limit}").json()
    seen = [item["id"] for item in body["data"]]
    while body["next_cursor"]:
        body = api.get(f"{url}{sep}limit={limit}&cursor={body['next_cursor']}").json()
        assert body["offset"] is None
        seen += [item["id"] for item in body["data"]]
    assert body["has_more"] is False
    return seen


def orderings(fields: list[str]) -> list[str]:
    single = [t for f in fields for t in (f, f"-{f}")]
    return [*single, f"{fields[0]},-{fields[1]}", f"-{fields[-1]},{fields[0]}"]


def cases() -> list[tuple[str, str]]:
    return [
        *(("/v1/contacts", o) for o in orderings(ContactListView.ordering_fields)),
        *(("/v1/jobs", o) for o in orderings(JobListView.ordering_fields)),
        ("/v1/jobs", ""),
        ("/v1/contacts", ""),
    ]


@pytest.mark.parametrize(("path", "ordering"), cases())
@pytest.mark.parametrize("limit", [1, 3, 10])
def test_a_cursor_walk_visits_what_an_offset_walk_does(
    api: APIClient, rows: dict[str, Any], path: str, ordering: str, limit: int
) -> None:
    url = f"{path}?ordering={ordering}" if ordering else path
    expected = walk_by_offset(api, url)
    assert walk_by_cursor(api, url, limit) == expected
    assert len(set(expected)) == len(expected)


def test_the_files_list_walks_by_cursor(api: APIClient, rows: dict[str, Any]) -> None:
    url = f"/v1/jobs/{rows['job'].pk}/files"
    assert walk_by_cursor(api, url, 2) == walk_by_offset(api, url)


def test_filters_keep_working_with_a_cursor(api: APIClient, rows: dict[str, Any]) -> None:
    url = "/v1/contacts?q=Name 1&ordering=name"
    assert walk_by_cursor(api, url, 2) == walk_by_offset(api, url)


def test_inserts_during_a_walk_never_shift_a_page(api: APIClient, tenant: Tenant) -> None:
    for i in range(10):
        ContactFactory.create(tenant=tenant, name=f"n{i:02d}")
    first = api.get("/v1/contacts?ordering=name&limit=4").json()
    # Rows created meanwhile, before and after the cursor's position.
    ContactFactory.create(tenant=tenant, name="a-before")
    ContactFactory.create(tenant=tenant, name="z-after")
    second = api.get(f"/v1/contacts?ordering=name&limit=4&cursor={first['next_cursor']}").json()
    names = [c["name"] for c in first["data"] + second["data"]]
    assert names == [f"n{i:02d}" for i in range(8)]


def test_a_cursor_page_costs_one_query_when_the_total_is_cached(
    api: APIClient, rows: dict[str, Any], settings: Any
) -> None:
    settings.LIST_COUNT_CACHE_SECONDS = 10
    first = api.get("/v1/contacts?limit=5").json()
    url = f"/v1/contacts?limit=5&cursor={first['next_cursor']}"
    api.get(url)  # warms the token cache and the total
    with CaptureQueriesContext(connection) as queries:
        assert api.get(url).status_code == 200
    page_queries = [q for q in queries.captured_queries if "contacts_contact" in q["sql"]]
    assert len(page_queries) == 1


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"), "Not a cursor this API"),
        (lambda c: "garbage", "Not a cursor this API"),
        (lambda c: c.swapcase(), "Not a cursor this API"),
    ],
)
def test_a_tampered_cursor_is_a_400(
    api: APIClient, rows: dict[str, Any], mangle: Any, message: str
) -> None:
    cursor = api.get("/v1/contacts?limit=2").json()["next_cursor"]
    response = api.get(f"/v1/contacts?limit=2&cursor={mangle(cursor)}")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert message in response.json()["errors"][0]["message"]


def test_a_cursor_belongs_to_its_list_and_ordering(api: APIClient, rows: dict[str, Any]) -> None:
    cursor = api.get("/v1/contacts?limit=2&ordering=name").json()["next_cursor"]
    other_list = api.get(f"/v1/jobs?limit=2&cursor={cursor}")
    assert other_list.status_code == 400
    assert "another list" in other_list.json()["errors"][0]["message"]
    other_order = api.get(f"/v1/contacts?limit=2&ordering=email&cursor={cursor}")
    assert other_order.status_code == 400
    assert "ordering=name,id" in other_order.json()["errors"][0]["message"]
    both = api.get(f"/v1/contacts?limit=2&ordering=name&offset=2&cursor={cursor}")
    assert both.status_code == 400


def test_a_cursor_from_another_tenant_shows_nothing_of_it(
    api: APIClient, other_api: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    for i in range(3):
        ContactFactory.create(tenant=other_tenant, name=f"secret {i}")
    ContactFactory.create(tenant=tenant, name="mine")
    cursor = other_api.get("/v1/contacts?limit=1").json()["next_cursor"]
    body = api.get(f"/v1/contacts?limit=5&cursor={cursor}").json()
    assert all("secret" not in c["name"] for c in body["data"])


def test_offsets_past_the_ceiling_point_to_the_cursor(api: APIClient, tenant: Tenant) -> None:
    assert api.get(f"/v1/contacts?offset={MAX_OFFSET}").status_code == 200
    response = api.get(f"/v1/contacts?offset={MAX_OFFSET + 1}")
    assert response.status_code == 400
    assert "use cursor" in response.json()["errors"][0]["message"]


def test_every_list_pages_are_disjoint_under_equal_timestamps(
    api: APIClient, tenant: Tenant
) -> None:
    contacts = [ContactFactory.create(tenant=tenant, name="same") for _ in range(9)]
    Contact.objects.filter(pk__in=[c.pk for c in contacts]).update(created_at=timezone.now())
    pages = walk_by_cursor(api, "/v1/contacts", 2)
    assert sorted(pages) == sorted(str(c.pk) for c in contacts)
    assert pages == walk_by_offset(api, "/v1/contacts")


@pytest.mark.parametrize("offset", [0, 3, 9, 10, 11, 30])
@pytest.mark.parametrize("limit", [1, 4, 10, 11])
def test_every_page_reports_the_true_total_whether_counted_or_not(
    api: APIClient, tenant: Tenant, settings: Any, limit: int, offset: int
) -> None:
    # A last page says its own total without a count; every other page counts (or reads the
    # kept count). Either way: the same total, has_more and rows as a plain count would give.
    settings.LIST_COUNT_CACHE_SECONDS = 60
    ContactFactory.create_batch(10, tenant=tenant)
    body = api.get("/v1/contacts", {"limit": limit, "offset": offset}).json()
    assert body["total"] == 10
    assert len(body["data"]) == max(0, min(limit, 10 - offset))
    assert body["has_more"] == (offset + limit < 10)


def test_an_empty_list_has_a_total_of_zero_without_a_count(
    api: APIClient, django_assert_num_queries: Any
) -> None:
    api.get("/v1/contacts")
    with django_assert_num_queries(1):
        body = api.get("/v1/contacts").json()
    assert (body["total"], body["data"], body["has_more"]) == (0, [], False)
