"""Storage quotas and the disk floor (files/quotas.py), on the file-system storage; the S3
backend's are in test_s3.py, and many workers racing for the last free slot in
tests/live/test_storage_quotas.py."""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from files import quotas
from files.models import JobFile, StorageUsage
from files.services import file_create, file_delete
from jobs.models import Job
from portal.errors import DomainError
from portal.models import Plan, Tenant
from portal.resilience.breakers import breakers
from tests.factories import PDF_BYTES, JobFactory, JobFileFactory, TenantFactory
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db


def upload(client: APIClient, job: Job, data: bytes = PDF_BYTES, name: str = "a.pdf") -> Any:
    return client.post(
        f"/v1/jobs/{job.id}/files",
        {"file": SimpleUploadedFile(name, data, content_type="application/pdf")},
        format="multipart",
    )


def pdf(size: int) -> bytes:
    """A PDF of exactly `size` bytes (at least len(PDF_BYTES))."""
    return PDF_BYTES[:-7] + b"0" * (size - len(PDF_BYTES)) + PDF_BYTES[-7:]


def stored_files(settings: Any) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def assert_in_step(tenant: Tenant) -> None:
    row = StorageUsage.objects.get(tenant=tenant)
    assert (row.bytes, row.files) == quotas.counted(tenant.pk)


# --- What a tenant may store -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("own", "plan", "default", "expected"),
    [
        ((None, None), None, (1000, 10), (1000, 10)),
        ((None, None), (500, None), (1000, 10), (500, 10)),
        ((None, 3), (500, 5), (1000, 10), (500, 3)),
        ((0, None), (500, 5), (1000, 10), (0, 5)),
        ((None, None), None, (0, 0), (None, None)),
        ((7, None), None, (0, 0), (7, None)),
    ],
)
def test_a_tenants_own_limit_beats_its_plans_which_beats_the_settings(
    settings: Any, own: tuple[Any, Any], plan: Any, default: tuple[int, int], expected: Any
) -> None:
    settings.STORAGE_QUOTA_BYTES, settings.STORAGE_QUOTA_FILES = default
    tenant = TenantFactory.create(storage_max_bytes=own[0], storage_max_files=own[1])
    if plan is not None:
        tenant.plan = Plan.objects.create(
            slug="p", name="P", storage_max_bytes=plan[0], storage_max_files=plan[1]
        )
        tenant.save()
    assert quotas.quota_of(tenant.pk) == expected
    assert quotas.quota_for(Tenant.objects.select_related("plan").get(pk=tenant.pk)) == expected


def test_the_defaults_are_ten_gib_and_ten_thousand_files(settings: Any) -> None:
    assert settings.STORAGE_QUOTA_BYTES == 10 * 1024**3
    assert settings.STORAGE_QUOTA_FILES == 10_000


# --- Usage follows the rows -------------------------------------------------------------------


def test_usage_follows_uploads_deletes_and_cascades(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    other_job = JobFactory.create(tenant=tenant)
    for data in (pdf(300), pdf(400)):
        assert upload(api, job, data).status_code == 201
    assert upload(api, other_job, pdf(500)).status_code == 201
    assert api.get("/v1/usage").json()["storage"] == {
        "bytes": 1200,
        "files": 3,
        "max_bytes": 10 * 1024**3,
        "max_files": 10_000,
    }
    file_delete(job_file=JobFile.objects.filter(job=job).order_by("size").first())  # type: ignore[arg-type]
    assert (StorageUsage.objects.get(tenant=tenant).files, quotas.usage_of(tenant.pk).bytes) == (
        2,
        900,
    )
    other_job.delete()  # cascades to its file
    assert quotas.usage_of(tenant.pk).bytes == 400
    assert_in_step(tenant)


def test_files_made_outside_the_api_are_counted_too(tenant: Tenant) -> None:
    JobFileFactory.create(job=JobFactory.create(tenant=tenant), data=pdf(1234))
    assert quotas.usage_of(tenant.pk).bytes == 1234
    assert_in_step(tenant)


def test_a_missing_usage_row_is_counted_from_the_files(tenant: Tenant) -> None:
    JobFileFactory.create(job=JobFactory.create(tenant=tenant), data=pdf(600))
    StorageUsage.objects.filter(tenant=tenant).delete()
    assert quotas.usage_of(tenant.pk).bytes == 600
    JobFileFactory.create(job=JobFactory.create(tenant=tenant), data=pdf(700))
    assert StorageUsage.objects.get(tenant=tenant).bytes == 1300


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("upload"), st.integers(len(PDF_BYTES), 2000), st.integers(0, 2)),
        st.tuples(st.just("delete_file"), st.integers(0, 20), st.just(0)),
        st.tuples(st.just("delete_job"), st.integers(0, 2), st.just(0)),
    ),
    max_size=12,
)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS, max_bytes=st.integers(0, 5000), max_files=st.integers(0, 5))
def test_any_sequence_of_writes_keeps_usage_true_and_within_the_quota(
    operations: list[tuple[str, int, int]], max_bytes: int, max_files: int
) -> None:
    tenant = TenantFactory.create(storage_max_bytes=max_bytes, storage_max_files=max_files)
    jobs = [JobFactory.create(tenant=tenant) for _ in range(3)]
    for kind, value, job_index in operations:
        if kind == "upload":
            job = jobs[job_index]
            if not Job.objects.filter(pk=job.pk).exists():
                continue
            before = quotas.usage_of(tenant.pk)
            fits = before.bytes + value <= max_bytes and before.files + 1 <= max_files
            refusal = None
            try:
                file_create(job=job, upload=SimpleUploadedFile("f.pdf", pdf(value)))
            except DomainError as error:
                refusal = (error.code, error.extensions["quota"])
            assert (refusal is None) == fits, (refusal, before, value)
            assert refusal is None or refusal[0] == "STORAGE_QUOTA_EXCEEDED"
        elif kind == "delete_file":
            files = list(JobFile.objects.filter(tenant=tenant).order_by("id"))
            if files:
                file_delete(job_file=files[value % len(files)])
        else:
            Job.objects.filter(pk=jobs[value].pk).delete()
        usage = quotas.usage_of(tenant.pk)
        assert (usage.bytes, usage.files) == quotas.counted(tenant.pk)
        assert usage.bytes <= max_bytes
        assert usage.files <= max_files


# --- Refusals ---------------------------------------------------------------------------------


def test_an_upload_past_the_file_quota_is_a_413_naming_it(
    api: APIClient, tenant: Tenant, settings: Any
) -> None:
    tenant.storage_max_files = 2
    tenant.save()
    job = JobFactory.create(tenant=tenant)
    assert [upload(api, job).status_code for _ in range(2)] == [201, 201]
    on_disk = stored_files(settings)
    body = assert_problem(upload(api, job), 413, "STORAGE_QUOTA_EXCEEDED")
    assert body["type"].endswith("/errors/storage-quota")
    assert body["quota"] == "files"
    assert body["usage"] == {
        "bytes": 2 * len(PDF_BYTES),
        "files": 2,
        "max_bytes": 10 * 1024**3,
        "max_files": 2,
    }
    assert "2 files" in body["detail"]
    # Nothing changed: no row, no bytes.
    assert JobFile.objects.filter(tenant=tenant).count() == 2
    assert stored_files(settings) == on_disk
    assert_in_step(tenant)


def test_the_byte_quota_takes_an_exact_fit_and_not_a_byte_more(
    api: APIClient, tenant: Tenant
) -> None:
    tenant.storage_max_bytes = 1000
    tenant.save()
    job = JobFactory.create(tenant=tenant)
    assert upload(api, job, pdf(600)).status_code == 201
    body = assert_problem(upload(api, job, pdf(401)), 413, "STORAGE_QUOTA_EXCEEDED")
    assert (body["quota"], body["requested_bytes"]) == ("bytes", 401)
    assert "400 bytes is left" in body["detail"]
    assert upload(api, job, pdf(400)).status_code == 201
    assert quotas.usage_of(tenant.pk).bytes == 1000


def test_a_used_up_quota_is_refused_before_the_body_is_read(
    api: APIClient, tenant: Tenant, settings: Any
) -> None:
    tenant.storage_max_files = 0
    tenant.save()
    job = JobFactory.create(tenant=tenant)
    settings.FILE_UPLOAD_MAX_BYTES = 1000
    # Over the size limit too: the quota answers first, before a byte is read.
    body = assert_problem(upload(api, job, pdf(5000)), 413, "STORAGE_QUOTA_EXCEEDED")
    assert body["quota"] == "files"


def test_one_tenants_full_quota_leaves_others_uploading(
    api: APIClient, other_api: APIClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    tenant.storage_max_files = 0
    tenant.save()
    assert_problem(upload(api, JobFactory.create(tenant=tenant)), 413, "STORAGE_QUOTA_EXCEEDED")
    assert upload(other_api, JobFactory.create(tenant=other_tenant)).status_code == 201


def test_a_plans_quota_applies_to_its_tenants(api: APIClient, tenant: Tenant) -> None:
    tenant.plan = Plan.objects.create(slug="free", name="Free", storage_max_files=1)
    tenant.save()
    job = JobFactory.create(tenant=tenant)
    assert upload(api, job).status_code == 201
    assert_problem(upload(api, job), 413, "STORAGE_QUOTA_EXCEEDED")
    assert api.get("/v1/usage").json()["storage"]["max_files"] == 1


def test_usage_needs_a_token_and_takes_no_parameters(anon: APIClient, api: APIClient) -> None:
    assert_problem(anon.get("/v1/usage"), 401, "UNAUTHENTICATED")
    assert_problem(api.get("/v1/usage?limit=5"), 400, "VALIDATION_ERROR")
    assert_problem(api.post("/v1/usage", {}, format="json"), 405, "METHOD_NOT_ALLOWED")


# --- The disk floor ---------------------------------------------------------------------------


def test_uploads_stop_at_the_disk_floor_without_opening_the_breaker(
    api: APIClient, tenant: Tenant, settings: Any
) -> None:
    job = JobFactory.create(tenant=tenant)
    existing = upload(api, job)
    assert existing.status_code == 201
    free = shutil.disk_usage(settings.MEDIA_ROOT).free
    settings.STORAGE_MIN_FREE_BYTES = free + 1024**3  # the real disk, below its floor
    on_disk = stored_files(settings)
    for _ in range(settings.BREAKER_FAIL_MAX + 2):
        body = assert_problem(upload(api, job), 507, "INSUFFICIENT_STORAGE")
    assert body["type"].endswith("/errors/insufficient-storage")
    assert stored_files(settings) == on_disk
    assert breakers.storage.current_state == "closed"
    # Reads and deletes go on.
    assert api.get(f"/v1/jobs/{job.id}/files").status_code == 200
    assert api.delete(f"/v1/jobs/{job.id}/files/{existing.json()['id']}").status_code == 204


def test_an_upload_that_would_cross_the_floor_is_refused_and_a_smaller_one_is_not(
    tenant: Tenant, settings: Any
) -> None:
    job = JobFactory.create(tenant=tenant)
    free = quotas.disk_free(JobFile._meta.get_field("blob").storage)
    assert free is not None
    # Room for 20 MiB above the floor: far more than the disk's own churn during the test.
    settings.STORAGE_MIN_FREE_BYTES = free - 20 * 1024**2
    settings.FILE_UPLOAD_MAX_BYTES = 64 * 1024**2
    with pytest.raises(DomainError) as refused:
        file_create(job=job, upload=SimpleUploadedFile("big.pdf", pdf(40 * 1024**2)))
    assert refused.value.code == "INSUFFICIENT_STORAGE"
    file_create(job=job, upload=SimpleUploadedFile("small.pdf", pdf(300)))


def test_a_media_root_not_made_yet_is_measured_on_its_parents_disk(
    settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "not" / "yet")
    storage = JobFile._meta.get_field("blob").storage
    free = quotas.disk_free(storage)
    assert free is not None
    assert abs(free - shutil.disk_usage(tmp_path).free) < 64 * 1024**2


# --- Concurrency ------------------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent writers need PostgreSQL (SQLite's test database is one connection)",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_never_pass_the_quota_together() -> None:
    tenant = TenantFactory.create(storage_max_files=3, storage_max_bytes=10 * len(PDF_BYTES))
    job = JobFactory.create(tenant=tenant)
    start = threading.Barrier(8)

    def one(_: int) -> str:
        try:
            start.wait()
            file_create(job=job, upload=SimpleUploadedFile("a.pdf", PDF_BYTES))
            return "created"
        except DomainError as error:
            return error.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert sorted(results) == ["STORAGE_QUOTA_EXCEEDED"] * 5 + ["created"] * 3
    assert JobFile.objects.filter(tenant=tenant).count() == 3
    assert_in_step(tenant)


# --- Operators see it -------------------------------------------------------------------------


def test_the_admin_shows_usage_and_edits_plans_and_quotas(
    admin_client: Any, tenant: Tenant
) -> None:
    JobFileFactory.create(job=JobFactory.create(tenant=tenant), data=pdf(2048))
    page = admin_client.get("/admin/files/storageusage/")
    assert page.status_code == 200
    assert tenant.slug in page.content.decode()
    assert "2.0 KB" in page.content.decode() or "2,048 bytes" in page.content.decode()
    response = admin_client.post(
        "/admin/portal/plan/add/",
        {"slug": "team", "name": "Team", "storage_max_bytes": "5000", "storage_max_files": "7"},
    )
    assert response.status_code == 302, response.content[:2000]
    change = admin_client.get(f"/admin/portal/tenant/{tenant.pk}/change/")
    assert "Storage quota" in change.content.decode()
    assert quotas.quota_for(tenant) == (10 * 1024**3, 10_000)


def test_the_slo_dashboard_lists_tenants_closest_to_their_quotas(
    admin_client: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    tenant.storage_max_files = 2
    tenant.save()
    JobFileFactory.create(job=JobFactory.create(tenant=tenant))
    JobFileFactory.create(job=JobFactory.create(tenant=other_tenant))
    page = admin_client.get("/ops/slo").content.decode()
    assert 'id="storage"' in page
    assert "free on the disk under local storage" in page
    rows = page.split('data-tenant="')[1:]
    assert [row.split('"')[0] for row in rows[:2]] == [tenant.slug, other_tenant.slug]
    assert "50%" in rows[0]
