from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.test import APIClient

from files.models import JobFile
from portal.models import Tenant
from tests.factories import PDF_BYTES, JobFactory, JobFileFactory
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db(transaction=True)


def stored(settings: Any, job_file: JobFile) -> Path:
    return Path(settings.MEDIA_ROOT) / str(job_file.blob.name)


def test_it_shows_a_file(api: APIClient, tenant: Tenant) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    response = api.get(f"/v1/jobs/{job_file.job_id}/files/{job_file.id}")
    assert response.status_code == 200
    assert response.json()["id"] == job_file.id
    assert response["Pragma"] == "no-cache"


def test_a_file_is_only_found_under_its_own_job(api: APIClient, tenant: Tenant) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    elsewhere = JobFileFactory.create(job__tenant=tenant)
    response = api.get(f"/v1/jobs/{elsewhere.job_id}/files/{job_file.id}")
    assert assert_problem(response, 404, "NOT_FOUND")["detail"] == "File not found"


def test_deleting_a_file_removes_its_bytes(api: APIClient, tenant: Tenant, settings: Any) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    path = stored(settings, job_file)
    assert path.exists()
    assert api.delete(f"/v1/jobs/{job_file.job_id}/files/{job_file.id}").status_code == 204
    assert not JobFile.objects.filter(pk=job_file.pk).exists()
    assert not path.exists()


def test_deleting_a_job_removes_its_files_bytes(
    api: APIClient, tenant: Tenant, settings: Any
) -> None:
    first = JobFileFactory.create(job__tenant=tenant)
    second = JobFileFactory.create(job=first.job)
    paths = [stored(settings, first), stored(settings, second)]
    assert api.delete(f"/v1/jobs/{first.job_id}").status_code == 204
    assert JobFile.objects.count() == 0
    assert not any(path.exists() for path in paths)


def test_bytes_stay_when_the_deletion_rolls_back(tenant: Tenant, settings: Any) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    path, file_id = stored(settings, job_file), job_file.pk

    def delete_then_fail() -> None:
        with transaction.atomic():
            job_file.delete()
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        delete_then_fail()
    assert path.exists()
    assert JobFile.objects.filter(pk=file_id).exists()


@pytest.mark.parametrize("method", ["get", "delete"])
def test_another_tenants_file_is_not_found(
    other_api: APIClient, tenant: Tenant, method: str, settings: Any
) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    response = getattr(other_api, method)(f"/v1/jobs/{job_file.job_id}/files/{job_file.id}")
    assert_problem(response, 404, "NOT_FOUND")
    assert JobFile.objects.filter(pk=job_file.pk).exists()
    assert stored(settings, job_file).exists()


@pytest.mark.parametrize("bad_id", ["file_", "nope", "file_a.b"])
def test_malformed_file_ids_are_not_found(api: APIClient, tenant: Tenant, bad_id: str) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    assert_problem(api.get(f"/v1/jobs/{job_file.job_id}/files/{bad_id}"), 404, "NOT_FOUND")


def test_it_requires_a_token(anon: APIClient, tenant: Tenant) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    for method in ("get", "delete"):
        response = getattr(anon, method)(f"/v1/jobs/{job_file.job_id}/files/{job_file.id}")
        assert_problem(response, 401, "UNAUTHENTICATED")


def test_deleting_a_file_leaves_no_empty_directories(
    api: APIClient, tenant: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = JobFactory.create(tenant=tenant)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            f"/v1/jobs/{job.pk}/files",
            {"file": SimpleUploadedFile("a.pdf", PDF_BYTES, content_type="application/pdf")},
            format="multipart",
        )
    assert created.status_code == 201
    media = Path(settings.MEDIA_ROOT)
    assert any(p.is_file() for p in media.rglob("*"))
    with django_capture_on_commit_callbacks(execute=True):
        deleted = api.delete(f"/v1/jobs/{job.pk}/files/{created.json()['id']}")
    assert deleted.status_code == 204
    assert list(media.rglob("*")) == []
