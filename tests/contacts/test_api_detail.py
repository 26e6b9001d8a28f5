from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from contacts.models import Contact
from jobs.models import Job
from portal.models import Tenant
from tests.factories import ContactFactory, JobFactory
from tests.helpers import assert_problem, error_fields

pytestmark = pytest.mark.django_db


def url(contact: Contact | str) -> str:
    return f"/v1/contacts/{contact.pk if isinstance(contact, Contact) else contact}"


def test_it_shows_a_contact(api: APIClient, tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant)
    response = api.get(url(contact))
    assert response.status_code == 200
    assert response.json()["id"] == str(contact.pk)


def test_it_updates_only_the_given_fields(api: APIClient, tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant, name="Old", company="Keep")
    response = api.patch(url(contact), {"name": "New"}, format="json")
    assert response.status_code == 200
    contact.refresh_from_db()
    assert (contact.name, contact.company) == ("New", "Keep")
    assert response.json()["name"] == "New"


def test_it_refuses_an_invalid_update_and_changes_nothing(api: APIClient, tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant, name="Old", email="a@b.co")
    body = assert_problem(
        api.patch(url(contact), {"name": "", "email": "x"}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert error_fields(body) == {"name", "email"}
    contact.refresh_from_db()
    assert (contact.name, contact.email) == ("Old", "a@b.co")


def test_it_deletes_a_contact(api: APIClient, tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant)
    assert api.delete(url(contact)).status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_it_refuses_to_delete_a_contact_with_jobs(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    assert_problem(api.delete(url(job.contact)), 409, "CONFLICT")
    assert Job.objects.filter(pk=job.pk).exists()
    assert Contact.objects.filter(pk=job.contact_id).exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_other_tenants_contact_is_not_found(
    other_api: APIClient, tenant: Tenant, method: str
) -> None:
    contact = ContactFactory.create(tenant=tenant, name="Secret")
    data = None if method == "get" else {"name": "Hacked"}
    response = getattr(other_api, method)(url(contact), data, format="json")
    body = assert_problem(response, 404, "NOT_FOUND")
    assert body["detail"] == "Contact not found"
    assert "Secret" not in response.content.decode()
    contact.refresh_from_db()
    assert contact.name == "Secret"


@pytest.mark.parametrize("bad_id", ["zzz", "550e8400-e29b-41d4-a716-44665544000Z", "1' OR 1=1"])
def test_malformed_ids_are_not_found(api: APIClient, bad_id: str) -> None:
    assert_problem(api.get(url(bad_id)), 404, "NOT_FOUND")


def test_it_requires_a_token(anon: APIClient, tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant)
    for method in ("get", "patch", "delete"):
        assert_problem(getattr(anon, method)(url(contact)), 401, "UNAUTHENTICATED")
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_unsupported_methods_are_problems(api: APIClient, tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant)
    assert_problem(api.put(url(contact), {}, format="json"), 405, "METHOD_NOT_ALLOWED")
