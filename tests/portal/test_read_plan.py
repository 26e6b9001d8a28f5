"""Output serializers render a model instance and a `values()` row the same way: lists read
plain rows (portal.http.pagination.as_rows), details read instances."""

from __future__ import annotations

import pytest
from rest_framework import serializers as drf_serializers

from contacts.apis import ContactSerializer
from contacts.models import Contact
from files.apis import JobFileSerializer
from jobs.apis import JobSerializer
from jobs.models import Job
from portal.http.pagination import as_rows
from portal.http.serializers import ModelSerializer
from portal.models import Tenant
from tests.factories import ContactFactory, JobFactory, JobFileFactory

pytestmark = [pytest.mark.django_db, pytest.mark.fast_paths]


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


def _every_output_serializer() -> list[type[ModelSerializer]]:
    def walk(cls: type[ModelSerializer]) -> list[type[ModelSerializer]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in walk(sub))]

    return [cls for cls in walk(ModelSerializer) if cls is not ModelSerializer]


def test_every_output_serializer_has_a_plan() -> None:
    # The compiled plan is the fast path; a new output serializer that silently falls back to
    # DRF's walk shows up here (widen the plan or say why not).
    serializers_ = _every_output_serializer()
    assert {cls.__name__ for cls in serializers_} >= {
        "ContactSerializer",
        "JobSerializer",
        "JobFileSerializer",
    }
    assert all(cls()._read_plan() is not None for cls in serializers_)


def test_the_plan_renders_what_drfs_own_walk_renders(tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant, email="", phone="")
    job = JobFactory.create(tenant=tenant, contact=contact)
    job_file = JobFileFactory.create(job=job)
    context = {"client": "pt_test", "base_url": "http://testserver", "issued_at": 1_800_000_000}
    instances = {ContactSerializer: contact, JobSerializer: job, JobFileSerializer: job_file}
    for cls in _every_output_serializer():
        instance = instances[cls]
        serializer = cls(instance, context=context)
        walked = drf_serializers.ModelSerializer.to_representation(serializer, instance)
        assert serializer.data == walked, cls.__name__
