from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from jobs.models import Job, JobStatus
from portal.models import Tenant
from tests.factories import ContactFactory, JobFactory
from tests.helpers import assert_problem, error_fields

URL = "/v1/jobs"
pytestmark = pytest.mark.django_db


def test_it_creates_a_job(api: APIClient, tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant)
    response = api.post(URL, {"title": "Survey", "contact_id": str(contact.id)}, format="json")
    assert response.status_code == 201
    body = response.json()
    job = Job.objects.get(pk=body["id"])
    assert (job.tenant, job.contact, job.status) == (tenant, contact, JobStatus.PENDING)
    assert body["id"].startswith("job_")
    assert response["Location"] == f"{URL}/{job.id}"


def test_it_creates_a_scheduled_job(api: APIClient, tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant)
    response = api.post(
        URL,
        {
            "title": "Survey",
            "contact_id": str(contact.id),
            "status": "scheduled",
            "scheduled_for": "2030-01-02T03:04:05Z",
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["scheduled_for"] == "2030-01-02T03:04:05.000Z"


def test_it_refuses_another_tenants_contact(
    api: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    foreign = ContactFactory.create(tenant=other_tenant)
    response = api.post(URL, {"title": "Steal", "contact_id": str(foreign.id)}, format="json")
    # Exactly like GET of that contact: not found, whoever owns it.
    body = assert_problem(response, 404, "NOT_FOUND")
    assert body["detail"] == "Contact not found"
    assert body["errors"] == [{"field": "contact_id", "message": "Contact not found."}]
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"title", "contact_id"}),
        ({"title": "x", "contact_id": "not-a-uuid"}, {"contact_id"}),
        ({"title": "x", "contact_id": "{contact}", "status": "done"}, {"status"}),
        ({"title": "x", "contact_id": "{contact}", "scheduled_for": "tomorrow"}, {"scheduled_for"}),
        ({"title": "x", "contact_id": "{contact}", "tenant": "globex"}, {"tenant"}),
    ],
)
def test_it_refuses_invalid_jobs(
    api: APIClient, tenant: Tenant, payload: dict[str, str], fields: set[str]
) -> None:
    contact = ContactFactory.create(tenant=tenant)
    payload = {k: v.replace("{contact}", str(contact.id)) for k, v in payload.items()}
    body = assert_problem(api.post(URL, payload, format="json"), 400, "VALIDATION_ERROR")
    assert error_fields(body) == fields
    assert Job.objects.count() == 0


def test_a_job_is_scheduled_only_with_a_time(api: APIClient, tenant: Tenant) -> None:
    # A rule on the job's whole state (a PATCH may not name scheduled_for): a 409 like an
    # illegal transition, so a schema-valid request is never answered "invalid".
    contact = ContactFactory.create(tenant=tenant)
    payload = {"title": "x", "contact_id": str(contact.id), "status": "scheduled"}
    body = assert_problem(api.post(URL, payload, format="json"), 409, "INVALID_STATUS_TRANSITION")
    assert error_fields(body) == {"scheduled_for"}
    assert Job.objects.count() == 0


def test_a_new_job_cannot_start_completed(api: APIClient, tenant: Tenant) -> None:
    contact = ContactFactory.create(tenant=tenant)
    response = api.post(
        URL, {"title": "x", "contact_id": str(contact.id), "status": "completed"}, format="json"
    )
    assert_problem(response, 409, "INVALID_STATUS_TRANSITION")
    assert Job.objects.count() == 0


def test_it_shows_a_job(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    assert api.get(f"{URL}/{job.id}").json()["id"] == job.id


def test_it_moves_a_job_along_a_legal_transition(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant, status=JobStatus.PENDING)
    response = api.patch(f"{URL}/{job.id}", {"status": "in_progress"}, format="json")
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == JobStatus.IN_PROGRESS


def test_it_refuses_an_illegal_transition_and_changes_nothing(
    api: APIClient, tenant: Tenant
) -> None:
    job = JobFactory.create(tenant=tenant, status=JobStatus.COMPLETED, title="Done")
    response = api.patch(f"{URL}/{job.id}", {"status": "pending", "title": "X"}, format="json")
    body = assert_problem(response, 409, "INVALID_STATUS_TRANSITION")
    assert "completed" in body["detail"]
    job.refresh_from_db()
    assert (job.status, job.title) == (JobStatus.COMPLETED, "Done")


def test_it_moves_a_job_to_another_contact_of_the_tenant(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    contact = ContactFactory.create(tenant=tenant)
    api.patch(f"{URL}/{job.id}", {"contact_id": str(contact.id)}, format="json")
    job.refresh_from_db()
    assert job.contact == contact


def test_it_deletes_a_job(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    assert api.delete(f"{URL}/{job.id}").status_code == 204
    assert not Job.objects.filter(pk=job.pk).exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_other_tenants_job_is_not_found(other_api: APIClient, tenant: Tenant, method: str) -> None:
    job = JobFactory.create(tenant=tenant, title="Secret")
    data = None if method == "get" else {"title": "x"}
    response = getattr(other_api, method)(f"{URL}/{job.id}", data, format="json")
    assert assert_problem(response, 404, "NOT_FOUND")["detail"] == "Job not found"
    job.refresh_from_db()
    assert job.title == "Secret"


@pytest.mark.parametrize("bad_id", ["job_", "jobs_1", "job_a/b", "x" * 300])
def test_malformed_job_ids_are_not_found(api: APIClient, bad_id: str) -> None:
    assert_problem(api.get(f"{URL}/{bad_id}"), 404, "NOT_FOUND")


def test_writes_require_a_token(anon: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    assert_problem(anon.post(URL, {}, format="json"), 401, "UNAUTHENTICATED")
    assert_problem(anon.patch(f"{URL}/{job.id}", {}, format="json"), 401, "UNAUTHENTICATED")
    assert_problem(anon.delete(f"{URL}/{job.id}"), 401, "UNAUTHENTICATED")
    assert Job.objects.filter(pk=job.pk).exists()
