"""Output serializers render a model instance and a `values()` row the same way: lists read
plain rows (portal.pagination.as_rows), details read instances."""

from __future__ import annotations

import pytest

from contacts.apis import ContactSerializer
from contacts.models import Contact
from files.apis import JobFileSerializer
from jobs.apis import JobSerializer
from jobs.models import Job
from portal.drf import ModelSerializer
from portal.models import Tenant
from portal.pagination import as_rows
from tests.factories import ContactFactory, JobFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("serializer", "model"), [(ContactSerializer, Contact), (JobSerializer, Job)]
)
def test_rows_and_instances_render_alike(
    serializer: type[ModelSerializer], model: type[Contact] | type[Job], tenant: Tenant
) -> None:
    contacts = ContactFactory.create_batch(5, tenant=tenant)
    contacts[0].email = ""
    contacts[0].phone = ""
    contacts[0].save()
    for contact in contacts:
        JobFactory(tenant=tenant, contact=contact)
    queryset = model.objects.filter(tenant=tenant).order_by("-created_at", "-pk")
    rows = list(as_rows(queryset, serializer().value_sources()))
    assert all(isinstance(row, dict) for row in rows)
    assert serializer(rows, many=True).data == serializer(list(queryset), many=True).data


def test_a_serializer_with_computed_fields_keeps_model_instances() -> None:
    # A signed link is computed per file: no plain-row plan, so the list reads instances.
    assert JobFileSerializer().value_sources() is None
