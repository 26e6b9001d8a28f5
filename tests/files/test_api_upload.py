from __future__ import annotations

import errno
import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from files.models import JobFile
from jobs.models import Job
from portal.models import Tenant
from tests.factories import PDF_BYTES, JobFactory
from tests.helpers import assert_problem, error_fields

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def upload(
    client: APIClient, job: Job, data: bytes, filename: str, content_type: str, **extra: Any
) -> Any:
    payload = {"file": SimpleUploadedFile(filename, data, content_type=content_type), **extra}
    return client.post(f"/v1/jobs/{job.id}/files", payload, format="multipart")


def test_it_stores_an_upload(api: APIClient, tenant: Tenant, settings: Any) -> None:
    job = JobFactory.create(tenant=tenant)
    response = upload(api, job, PDF_BYTES, "quote.pdf", "application/pdf")
    assert response.status_code == 201
    assert response["Cache-Control"] == "private, max-age=0, no-store"
    body = response.json()
    job_file = JobFile.objects.get(pk=body["id"])
    assert (job_file.tenant, job_file.job, job_file.kind) == (tenant, job, "document")
    assert job_file.size == len(PDF_BYTES) == body["size"]
    assert job_file.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
    stored = Path(settings.MEDIA_ROOT) / job_file.blob.name
    assert stored.read_bytes() == PDF_BYTES
    assert body["signed_url"]
    assert body["expires_at"].endswith("Z")


@pytest.mark.parametrize(
    ("name", "content_type", "data", "kind"),
    [
        ("photo.png", "image/png", PNG, "image"),
        ("notes.txt", "text/plain", b"hello", "text"),
        ("sheet.csv", "text/csv", b"a,b\n1,2\n", "spreadsheet"),
        ("guess.pdf", "application/octet-stream", PDF_BYTES, "document"),
    ],
)
def test_kind_follows_the_content_type(
    api: APIClient, tenant: Tenant, name: str, content_type: str, data: bytes, kind: str
) -> None:
    job = JobFactory.create(tenant=tenant)
    response = upload(api, job, data, name, content_type)
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == kind


def test_it_takes_the_name_field_and_cleans_it(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    response = upload(api, job, PDF_BYTES, "x.pdf", "application/pdf", name="..\\../etc/\x07pw.pdf")
    assert response.json()["name"] == "pw.pdf"


def test_a_blank_name_means_the_uploaded_files_name(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    response = upload(api, job, PDF_BYTES, "quote.pdf", "application/pdf", name="")
    assert response.json()["name"] == "quote.pdf"


def test_it_refuses_unsupported_types(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    response = upload(api, job, b"MZ\x90\x00", "tool.exe", "application/x-msdownload")
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert JobFile.objects.count() == 0


def test_it_refuses_content_that_does_not_match_its_type(
    api: APIClient, tenant: Tenant, settings: Any
) -> None:
    job = JobFactory.create(tenant=tenant)
    body = assert_problem(
        upload(api, job, b"<html>", "fake.pdf", "application/pdf"), 400, "VALIDATION_ERROR"
    )
    assert error_fields(body) == {"file"}
    assert JobFile.objects.count() == 0
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.pdf"))


def test_it_refuses_empty_files(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    assert_problem(upload(api, job, b"", "e.txt", "text/plain"), 400, "VALIDATION_ERROR")


def test_it_refuses_files_over_the_limit(api: APIClient, tenant: Tenant, settings: Any) -> None:
    settings.FILE_UPLOAD_MAX_BYTES = 100
    job = JobFactory.create(tenant=tenant)
    assert_problem(
        upload(api, job, PDF_BYTES, "big.pdf", "application/pdf"), 413, "PAYLOAD_TOO_LARGE"
    )
    assert JobFile.objects.count() == 0


def test_it_refuses_a_declared_body_over_the_limit_before_reading_it(
    api: APIClient, tenant: Tenant, settings: Any
) -> None:
    settings.FILE_UPLOAD_MAX_BYTES = 10
    job = JobFactory.create(tenant=tenant)
    response = api.generic(
        "POST",
        f"/v1/jobs/{job.id}/files",
        "x" * 200_000,
        content_type="multipart/form-data; boundary=xyz",
    )
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")


def test_it_requires_the_file_field(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    response = api.post(f"/v1/jobs/{job.id}/files", {"name": "x"}, format="multipart")
    assert error_fields(assert_problem(response, 400, "VALIDATION_ERROR")) == {"file"}


def test_it_refuses_json_bodies(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    response = api.post(f"/v1/jobs/{job.id}/files", {"file": "x"}, format="json")
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_it_cannot_upload_to_another_tenants_job(other_api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    assert_problem(upload(other_api, job, PDF_BYTES, "a.pdf", "application/pdf"), 404, "NOT_FOUND")
    assert JobFile.objects.count() == 0


def test_it_requires_a_token(anon: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    assert_problem(upload(anon, job, PDF_BYTES, "a.pdf", "application/pdf"), 401, "UNAUTHENTICATED")


def test_a_body_without_content_length_is_refused_clearly(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    response = api.generic(
        "POST",
        f"/v1/jobs/{job.id}/files",
        "",
        content_type="multipart/form-data; boundary=xyz",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert_problem(response, 411, "LENGTH_REQUIRED")


def test_a_storage_failure_is_a_503_and_counts_on_the_breaker(
    api: APIClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.resilience.breakers import breakers

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "disk full")

    monkeypatch.setattr("django.core.files.storage.FileSystemStorage._save", broken)
    job = JobFactory.create(tenant=tenant)
    response = upload(api, job, PDF_BYTES, "a.pdf", "application/pdf")
    body = assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert "file storage" in body["detail"]
    assert "disk full" not in body["detail"]
    assert JobFile.objects.count() == 0
    assert breakers.storage.fail_counter == 1


def test_an_open_storage_breaker_refuses_uploads_at_once(api: APIClient, tenant: Tenant) -> None:
    from portal.resilience.breakers import breakers

    breakers.storage.open()
    job = JobFactory.create(tenant=tenant)
    response = upload(api, job, PDF_BYTES, "a.pdf", "application/pdf")
    assert_problem(response, 503, "SERVICE_UNAVAILABLE")
    assert int(response["Retry-After"]) >= 1
    # Listing still works: signing links needs no storage call.
    assert api.get(f"/v1/jobs/{job.id}/files").status_code == 200
