"""portal.fastpaths.prepared.tenant_row reads exactly what the ORM reads, on SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import Contact
from files.models import JobFile
from jobs.models import Job
from portal.fastpaths import prepared
from portal.models import Tenant
from tests.factories import ContactFactory, JobFactory, JobFileFactory

pytestmark = pytest.mark.django_db


def _fields(instance: models.Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _orm(model: type[models.Model], tenant_id: int, pk: Any) -> Any:
    manager: Any = model._default_manager
    return manager.filter(tenant_id=tenant_id, pk=pk).first()


@pytest.mark.parametrize("model", [Contact, Job, JobFile])
def test_every_tenant_model_compiles_to_the_two_value_lookup(model: type[models.Model]) -> None:
    lookup = prepared._compile(model, "default")
    assert lookup is not None
    assert sorted(lookup.order) == ["pk", "tenant"]
    assert lookup.sql.count("%s") == 2


def test_a_row_reads_as_the_orm_reads_it(tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant, scheduled_for=datetime(2031, 2, 3, 4, 5, 6, 7000, UTC))
    file = JobFileFactory.create(tenant=tenant, job=job)
    for instance in (job.contact, job, file):
        model = type(instance)
        found = prepared.tenant_row(model, tenant.pk, str(instance.pk))
        assert found is not None
        assert type(found) is model
        assert _fields(found) == _fields(_orm(model, tenant.pk, instance.pk))
        assert (found._state.db, found._state.adding) == ("default", False)


def test_another_tenants_row_and_an_unknown_one_are_none(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    contact = ContactFactory.create(tenant=tenant)
    assert prepared.tenant_row(Contact, other_tenant.pk, str(contact.pk)) is None
    assert prepared.tenant_row(Contact, tenant.pk, str(uuid.uuid4())) is None
    assert prepared.tenant_row(Job, tenant.pk, "job_nope") is None


def test_a_lookup_is_one_query_and_its_sql_is_compiled_once(tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant)
    prepared.tenant_row(Contact, tenant.pk, str(contact.pk))
    with CaptureQueriesContext(connection) as first:
        prepared.tenant_row(Contact, tenant.pk, str(contact.pk))
    with CaptureQueriesContext(connection) as second:
        prepared.tenant_row(Contact, tenant.pk, str(uuid.uuid4()))
    assert len(first) == len(second) == 1
    assert first[0]["sql"].split("WHERE")[0] == second[0]["sql"].split("WHERE")[0]


def test_a_model_of_another_shape_is_read_through_the_orm(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    contact = ContactFactory.create(tenant=tenant)
    monkeypatch.setattr(prepared, "_compile", lambda model, using: None)
    prepared._compiled.clear()
    try:
        found = prepared.tenant_row(Contact, tenant.pk, str(contact.pk))
        assert found is not None
        assert _fields(found) == _fields(contact)
        assert prepared.tenant_row(Contact, tenant.pk + 1, str(contact.pk)) is None
    finally:
        prepared._compiled.clear()


text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=text.filter(str.strip),
    phone=text.map(lambda value: value[:32]),
    company=text,
    created=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
def test_any_contact_reads_back_as_the_orm_reads_it(
    tenant: Tenant, name: str, phone: str, company: str, created: datetime
) -> None:
    contact = ContactFactory.create(tenant=tenant, name=name, phone=phone, company=company)
    Contact.objects.filter(pk=contact.pk).update(created_at=created)
    found = prepared.tenant_row(Contact, tenant.pk, str(contact.pk))
    assert found is not None
    assert _fields(found) == _fields(_orm(Contact, tenant.pk, contact.pk))
