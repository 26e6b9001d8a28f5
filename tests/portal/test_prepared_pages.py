"""portal.fastpaths.prepared.page reads every list page exactly as the ORM reads it, on SQLite and
PostgreSQL, and compiles each shape's statement once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, connections, models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from contacts.models import Contact
from contacts.selectors import contact_search
from files.models import JobFile
from jobs.models import Job, JobStatus
from portal.fastpaths import prepared
from portal.models import Tenant
from tests.factories import ContactFactory, JobFactory, JobFileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_shapes() -> Any:
    prepared._pages.clear()
    yield
    prepared._pages.clear()


@pytest.fixture
def rows(tenant: Tenant, other_tenant: Tenant) -> None:
    # Many requests in one test: the limiter still counts, it just never says no here.
    Tenant.objects.filter(pk__in=[tenant.pk, other_tenant.pk]).update(
        rate_limit_default="1000000/m"
    )
    for owner in (tenant, other_tenant):
        contacts = ContactFactory.create_batch(7, tenant=owner, company="")
        ContactFactory.create(tenant=owner, name="Zed", company="Zebra Ltd")
        for n, contact in enumerate(contacts[:4]):
            job = JobFactory.create(
                tenant=owner, contact=contact, status=JobStatus.choices[n % 3][0]
            )
            JobFileFactory.create(tenant=owner, job=job)


def _plain(rows: list[Any]) -> list[Any]:
    return [
        row
        if isinstance(row, dict)
        else {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields}
        for row in rows
    ]


def shapes(tenant_id: int) -> dict[str, models.QuerySet[Any]]:
    contacts = Contact.objects.filter(tenant_id=tenant_id)
    jobs = Job.objects.filter(tenant_id=tenant_id)
    return {
        "contacts, newest first": contacts.order_by("-created_at", "-id")[:5],
        "contacts as values": contacts.order_by("-created_at", "-id").values(
            "id", "name", "created_at"
        )[2:6],
        "contacts by name, nulls last": contacts.order_by(F("name").asc(nulls_last=True), "id")[:4],
        "contacts searched": contact_search(contacts, "zeb").order_by("-created_at", "-id")[:3],
        "contacts after a key": contacts.filter(
            Q(created_at__lte=datetime(2100, 1, 1, tzinfo=UTC)) & ~Q(name="x")
        ).order_by("id")[1:3],
        "jobs by status": jobs.filter(status=JobStatus.choices[0][0])
        .order_by("-created_at", "-id")
        .values("id", "status", "scheduled_for")[:10],
        "jobs, model rows": jobs.order_by("scheduled_for", "id")[:10],
        "files of a job": JobFile.objects.filter(tenant_id=tenant_id, job__isnull=False).order_by(
            "-created_at", "-id"
        )[:10],
        "reversed": contacts.order_by("name", "id").reverse()[:3],
        # Shapes the cache leaves to the ORM (all but the last); they must read the same.
        "a join": jobs.filter(contact__name__startswith="Z").order_by("id")[:5],
        "select_related": jobs.select_related("contact").order_by("id")[:5],
        "an annotation": contacts.annotate(lower=Lower("name")).order_by("lower", "id")[:5],
        "an expression ordering": contacts.order_by(Lower("name").desc(), "id")[:5],
        "distinct": contacts.order_by("id").distinct()[:5],
        "only some fields": contacts.only("name").order_by("id")[:5],
        "nothing can match": contacts.filter(pk__in=[]).order_by("id")[:5],
        "unsliced": contacts.order_by("id"),
    }


def test_every_shape_reads_as_the_orm_reads_it_for_every_tenant(
    rows: None, tenant: Tenant, other_tenant: Tenant
) -> None:
    # Twice per tenant, the second tenant through the shapes the first one compiled.
    for owner in (tenant, other_tenant, tenant):
        for name, queryset in shapes(owner.pk).items():
            assert _plain(prepared.page(queryset.all())) == _plain(list(queryset.all())), name


@pytest.mark.fast_paths
def test_the_cache_compiles_the_usual_shapes_and_leaves_the_rest(
    rows: None, tenant: Tenant
) -> None:
    compiled = []
    for name, queryset in shapes(tenant.pk).items():
        prepared._pages.clear()
        prepared.page(queryset.all())
        kept: dict[Any, Any] = prepared._pages.get(connections["default"], {})
        if any(page is not None for page in kept.values()):
            compiled.append(name)
    usual = list(shapes(tenant.pk))[: list(shapes(tenant.pk)).index("reversed") + 1]
    assert compiled == [*usual, "unsliced"]
    assert len(compiled) == 10


@pytest.mark.fast_paths
def test_a_page_is_one_query_and_its_shape_is_compiled_once(
    rows: None, tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[Any] = []
    original = prepared._compile_page

    def spy(queryset: Any, params: Any) -> Any:
        compiled.append(queryset)
        return original(queryset, params)

    monkeypatch.setattr(prepared, "_compile_page", spy)
    for owner in (tenant, other_tenant, tenant, other_tenant):
        with CaptureQueriesContext(connection) as queries:
            page = prepared.page(
                Contact.objects.filter(tenant_id=owner.pk).order_by("-created_at", "-id")[:3]
            )
        assert len(queries) == 1
        assert {row.tenant_id for row in page} == {owner.pk}
    assert len(compiled) == 1


@pytest.mark.fast_paths
def test_the_kept_shapes_are_bounded(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared, "PAGE_SHAPES", 3)
    for offset in range(6):
        prepared.page(
            Contact.objects.filter(tenant_id=tenant.pk).order_by("id")[offset : offset + 2]
        )
    assert len(prepared._pages[connections["default"]]) == 3


LISTS = {
    "/v1/contacts": {
        "ordering": [
            "name",
            "-name",
            "email",
            "-company",
            "created_at",
            "-updated_at",
            "company,-name",
        ],
        "q": ["zeb", "a", "é", "%", "_", "\\", "'", "Z e"],
    },
    "/v1/jobs": {
        "ordering": ["scheduled_for", "-created_at", "status,-scheduled_for", "-updated_at"],
        "status": [value for value, _ in JobStatus.choices],
    },
}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_list_answers_as_it_does_through_the_orm(
    data: st.DataObject, rows: None, api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = data.draw(st.sampled_from(sorted(LISTS)))
    params: dict[str, Any] = {"limit": data.draw(st.integers(1, 4))}
    for name, values in LISTS[path].items():
        if data.draw(st.booleans()):
            params[name] = data.draw(st.sampled_from(values))
    if data.draw(st.booleans()):
        params["offset"] = data.draw(st.integers(0, 9))
    pages = 0
    while pages < 4:
        cached = api.get(path, params)
        with monkeypatch.context() as orm:
            orm.setattr(prepared, "page", list)
            plain = api.get(path, params)
        assert cached.status_code == plain.status_code == 200
        assert cached.json() == plain.json() | {"next_cursor": cached.json()["next_cursor"]}
        following = cached.json()["next_cursor"]
        if following is None:
            break
        params = {k: v for k, v in params.items() if k != "offset"} | {"cursor": following}
        pages += 1


def test_a_jobs_files_answer_as_through_the_orm(
    rows: None, api: APIClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    for job in Job.objects.filter(tenant=tenant):
        cached = api.get(f"/v1/jobs/{job.pk}/files")
        monkeypatch.setattr(prepared, "page", list)
        plain = api.get(f"/v1/jobs/{job.pk}/files")
        monkeypatch.undo()
        assert cached.status_code == plain.status_code == 200
        assert cached.json()["data"] == plain.json()["data"]
