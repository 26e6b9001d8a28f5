"""List totals are cached per tenant and filter, and retired by any write through the app."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from contacts.models import Contact
from contacts.selectors import contact_search
from portal.http import totals as list_totals
from portal.models import Tenant
from portal.resilience.cache import fresh_generation
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


@pytest.mark.fast_paths
def test_a_kept_total_costs_this_worker_no_read_of_its_own(
    api: APIClient, tenant: Tenant, monkeypatch: Any
) -> None:
    # The token check brought the tenant's generations along; the total this worker counted
    # under the current one answers the next page without asking the shared cache again.
    ContactFactory.create_batch(3, tenant=tenant)
    assert total(api, "/v1/contacts?limit=1") == 3  # the token loaded, the total counted
    assert total(api, "/v1/contacts?limit=1") == 3  # the token held: the total kept here
    shared = caches["shared"]
    reads: list[str] = []
    for name in ("get", "get_generational"):
        original = getattr(shared, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            if _name == "get_generational" or str(args[0]).startswith("total:"):
                reads.append(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(shared, name, spy)
    with CaptureQueriesContext(connection) as queries:
        assert total(api, "/v1/contacts?limit=1") == 3
    assert reads == []
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_a_total_is_kept_no_longer_than_the_cache_time_since_it_was_counted(
    api: APIClient, tenant: Tenant, monkeypatch: Any
) -> None:
    ContactFactory.create_batch(3, tenant=tenant)
    assert total(api, "/v1/contacts?limit=1") == 3
    # A row added behind Django's back (no signal, no new generation).
    Contact.objects.bulk_create([Contact(tenant=tenant, name="Raw", email="raw@example.com")])
    assert total(api, "/v1/contacts?limit=1") == 3  # within the cache time: the kept total
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert total(api, "/v1/contacts?limit=1") == 4  # counted again, in this worker too


@pytest.mark.fast_paths
def test_a_total_another_worker_counted_long_ago_is_not_trusted(
    api: APIClient, tenant: Tenant
) -> None:
    ContactFactory.create_batch(2, tenant=tenant)
    assert total(api, "/v1/contacts?limit=1") == 2
    assert total(api, "/v1/contacts?limit=1") == 2
    # Another worker's entry in the shared cache, counted more than the cache time ago (a
    # clock step, or a shared cache that kept it too long): this worker counts for itself.
    shared = caches["shared"]
    stale = [k for k in list_totals._local]
    assert len(stale) == 1
    shared.set(stale[0], (999, time.time() - 61), 60)
    list_totals.forget()
    assert total(api, "/v1/contacts?limit=1") == 2


def create_one(tenant: Tenant, capture: Any) -> None:
    with capture(execute=True):
        ContactFactory.create(tenant=tenant)


@pytest.mark.fast_paths
def test_a_restarted_shared_cache_never_brings_back_a_worker_s_old_total(
    api: APIClient, tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    # Redis keeps nothing across a restart. Generations that started again at 1 would come
    # back, after as many writes, to the number this worker's old total was kept under.
    for _ in range(3):
        create_one(tenant, django_capture_on_commit_callbacks)
    assert total(api, "/v1/contacts?limit=1") == 3
    assert total(api, "/v1/contacts?limit=1") == 3  # the token held: the total kept here
    assert list_totals._local
    caches["shared"].clear()  # the restart
    for expected in range(4, 9):
        create_one(tenant, django_capture_on_commit_callbacks)
        assert total(api, "/v1/contacts?limit=1") == expected


def test_generations_start_at_random() -> None:
    starts = {fresh_generation() for _ in range(50)}
    assert len(starts) == 50
    assert all(0 <= s < 2**48 for s in starts)


class Worker:
    """One worker's kept totals, swapped in while it serves (the module's dict is per process)."""

    def __init__(self) -> None:
        self.kept: Any = type(list_totals._local)()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.sampled_from(["create", "delete", "read-a", "read-b", "restart", "filter-a"]),
        min_size=1,
        max_size=12,
    )
)
def test_every_interleaving_of_writes_reads_and_restarts_gives_the_exact_total(
    steps: list[str],
    api: APIClient,
    tenant: Tenant,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: Any,
) -> None:
    Contact.objects.filter(tenant=tenant).delete()
    caches["shared"].clear()
    workers = {"a": Worker(), "b": Worker()}
    for step in steps:
        if step == "create":
            create_one(tenant, django_capture_on_commit_callbacks)
        elif step == "delete":
            first = Contact.objects.filter(tenant=tenant).first()
            if first is not None:
                with django_capture_on_commit_callbacks(execute=True):
                    first.delete()
        elif step == "restart":
            caches["shared"].clear()
        else:
            worker = workers["b" if step == "read-b" else "a"]
            monkeypatch.setattr(list_totals, "_local", worker.kept)
            if step == "filter-a":
                expected = contact_search(Contact.objects.filter(tenant=tenant), "e").count()
                got = total(api, "/v1/contacts?limit=1&q=e")
            else:
                expected = Contact.objects.filter(tenant=tenant).count()
                got = total(api, "/v1/contacts?limit=1")
            assert got == expected, steps


@pytest.mark.fast_paths
def test_one_request_recounts_a_total_before_it_expires_while_the_rest_use_it(
    api: APIClient, tenant: Tenant, monkeypatch: Any
) -> None:
    ContactFactory.create_batch(3, tenant=tenant)
    assert total(api, "/v1/contacts?limit=1") == 3
    assert total(api, "/v1/contacts?limit=1") == 3  # the token held: the total kept here
    (kept,) = list_totals._local
    Contact.objects.bulk_create([Contact(tenant=tenant, name="Raw", email="raw@example.com")])
    shared = caches["shared"]

    def counts() -> int:
        with CaptureQueriesContext(connection) as queries:
            value = total(api, "/v1/contacts?limit=1")
        assert sum("COUNT(" in q["sql"].upper() for q in queries.captured_queries) == 0
        return value

    def recounts() -> int:
        with CaptureQueriesContext(connection) as queries:
            value = total(api, "/v1/contacts?limit=1")
        assert sum("COUNT(" in q["sql"].upper() for q in queries.captured_queries) == 1
        return value

    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start + 47)  # before REFRESH_AFTER (48 s of 60)
    assert counts() == 3
    monkeypatch.setattr(time, "time", lambda: start + 49)
    assert shared.add(f"recount:{kept}", 1, 10)  # another worker claimed the recount
    assert counts() == 3  # so this one answers with the kept total, still within 60 s
    list_totals.forget()
    assert counts() == 3  # a third worker too, from the shared cache
    shared.delete(f"recount:{kept}")
    assert recounts() == 4  # the claim is free: this request counts
    assert counts() == 4  # and the new total serves the rest
    monkeypatch.setattr(time, "time", lambda: start + 49 + 61)
    shared.set(f"recount:{kept}", 1, 10)  # a claim held
    Contact.objects.bulk_create([Contact(tenant=tenant, name="Raw 2", email="r2@example.com")])
    assert recounts() == 5  # past the cache time a claim does not keep the old total
